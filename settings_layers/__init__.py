"""Layered settings shared by the exporter and the backup verifier.

Precedence: model defaults → YAML file → environment → explicit overrides (flags),
validated once by the pydantic model; every problem comes back together, each naming
its key (``cache.l1_ttl_seconds: Input should be greater than 0``), so that a
deployment is fixed in one round. Each tool keeps its own environment prefix and fixed
names; anything else is ``<PREFIX><SECTION>__<KEY>``. Lists and maps may be given in the
environment as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class EnvLayout:
    """How one tool's settings are spelled in the environment."""

    prefix: str                   # e.g. "DBHEALTH_"
    config_env: str               # the variable naming the YAML file
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # fixed names
    ignored: frozenset[str] = frozenset()  # read by something else, not settings


class SettingsProblems(Exception):
    """Every problem found, each ``key: reason``; callers raise their own error type."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _env_value(raw: str) -> Any:
    """Lists and maps may be given as JSON; everything else stays a string for pydantic."""
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def env_overrides(environ: Mapping[str, str], layout: EnvLayout) -> tuple[dict[str, Any], list[str]]:
    """The settings tree the environment spells, and the variables it could not place."""
    tree: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in environ.items():
        if not name.startswith(layout.prefix) or name == layout.config_env or name in layout.ignored:
            continue
        if name in layout.aliases:
            path: tuple[str, ...] = tuple(layout.aliases[name])
        elif "__" in name:
            path = tuple(part.lower() for part in name[len(layout.prefix):].split("__"))
        else:
            problems.append(f"{name}: unknown environment variable (use {layout.prefix}SECTION__KEY)")
            continue
        _set_path(tree, path, _env_value(raw))
    return tree, problems


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> tuple[dict[str, Any], list[str]]:
    import yaml  # here: 1 MiB of RSS that a deployment without a settings file never needs
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        return {}, [f"config.file: cannot read {path}: {exc.strerror}"]
    except yaml.YAMLError as exc:
        return {}, [f"config.file: {path} is not valid YAML: {yaml_error_reason(exc)}"]
    if not isinstance(loaded, dict):
        return {}, [f"config.file: {path} must hold a mapping at the top level"]
    return loaded, []


def yaml_error_reason(exc: Exception) -> str:
    """Where and what, never the text: PyYAML's message quotes the offending line, which
    may hold a password."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


def describe(err: Mapping[str, Any]) -> str:
    """One pydantic error as ``key: reason``; pydantic's msg never echoes the input value,
    so a secret that failed validation does not reach the message."""
    key = ".".join(str(part) for part in err["loc"]) or "(top level)"
    return f"{key}: {str(err['msg']).removeprefix('Value error, ')}"


def load_layered(model: type[Model], layout: EnvLayout, *, config_file: str | Path | None,
                 environ: Mapping[str, str], overrides: Mapping[str, Any] | None) -> Model:
    """Validated settings, or SettingsProblems listing every problem at once."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = config_file or environ.get(layout.config_env)
    if path:
        data, problems = read_yaml(Path(path))
    env_tree, env_problems = env_overrides(environ, layout)
    problems += env_problems
    data = merge(merge(data, env_tree), overrides or {})
    try:
        settings = model.model_validate(data)
    except ValidationError as exc:
        raise SettingsProblems(problems + [describe(err) for err in exc.errors()]) from None
    if problems:
        raise SettingsProblems(problems)
    return settings
