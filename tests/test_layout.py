"""The project's shape across its packages: no import cycle anywhere, and each component
imports only the shared packages (plus what the demo wires together)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support.imports import cycles, import_graph

REPO = Path(__file__).resolve().parents[1]
SHARED = {"settings_layers", "pgmigrations"}
# What each top-level package may import of the others. The receiver is its own deployable
# (nothing of the exporter's); the shared packages import no component.
ALLOWED = {
    "exporter": SHARED,
    "receiver": SHARED,
    "backup": SHARED,
    "rulegen": set(),
    "dashgen": set(),
    "settings_layers": set(),
    "pgmigrations": set(),
    "demo": {"exporter", "backup", *SHARED},
}


def _graph() -> dict[str, set[str]]:
    return import_graph(*(REPO / name for name in ALLOWED))


def test_every_package_is_checked() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(ALLOWED)


def test_no_import_cycle_in_any_package() -> None:
    assert cycles(_graph()) == []


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_it_may(package: str) -> None:
    graph = _graph()
    imported = {target.split(".")[0] for module, targets in graph.items()
                if module.split(".")[0] == package for target in targets}
    assert imported - {package} <= ALLOWED[package]
