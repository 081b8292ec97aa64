"""Exporter fixtures: a real exporter (HTTP server on a free port) built from settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.server import Exporter
from exporter.settings import Settings, load_settings

from ..support.postgres import PostgresServer
from ..support.statements import tracker_template

ExporterFactory = Callable[..., Exporter]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def exporter_settings(dsn: str, **overrides: Any) -> Settings:
    base = {
        "database": {"url": dsn},
        "web": {"listen_address": "127.0.0.1:0", "rate_limit_per_minute": 0},
        "audit": {"enabled": False},
    }
    return load_settings(environ={}, overrides=_merge(base, overrides))


@pytest.fixture
def make_exporter() -> Iterator[ExporterFactory]:
    started: list[Exporter] = []

    def factory(dsn: str, **overrides: Any) -> Exporter:
        exporter = Exporter(exporter_settings(dsn, **overrides))
        exporter.start()
        started.append(exporter)
        return exporter

    yield factory
    for exporter in started:
        exporter.stop()


def base_url(exporter: Exporter) -> str:
    return f"http://127.0.0.1:{exporter.port}"


@pytest.fixture
def tracker_dsn(pg_server: PostgresServer, demo_template: str,
                request: pytest.FixtureRequest) -> str:
    """A fresh demo database for one statements/advisor test (see ``tracker_template``)."""
    template = tracker_template(pg_server, demo_template)
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    return pg_server.create_database(f"{module}_{request.node.name[:40].lower()}",
                                     template=template)
