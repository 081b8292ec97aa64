"""Settings precedence: defaults → YAML file → environment → command-line flags.

Validated once; every problem is reported together, each naming its key
(``s3.primary.bucket: Field required``). The verifier has its own environment
prefix, ``BACKUP_VERIFY_``, so that it can share an environment with the exporter
(whose ``DBHEALTH_*`` variables are all its own): ``BACKUP_VERIFY_<SECTION>__<KEY>``
for anything, plus a few fixed names. Secrets are masked wherever settings are shown.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ConfigError
from .settings import Settings

ENV_PREFIX = "BACKUP_VERIFY_"
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "BACKUP_VERIFY_PRODUCTION_URL": ("production", "url"),
    "BACKUP_VERIFY_SCRATCH_URL": ("scratch", "url"),
    "BACKUP_VERIFY_AUDIT_URL": ("audit", "url"),
    "BACKUP_VERIFY_TIMEZONE": ("timezone",),
}
CONFIG_ENV = "BACKUP_VERIFY_CONFIG"
MASK = "***"


def mask_url(url: str) -> str:
    """Hide the password of a URL (``user:pw@``, also with an empty user) or a libpq ``password=``."""
    masked = re.sub(r"(://[^:/@]*:)[^@]*@", rf"\1{MASK}@", url)
    return re.sub(r"(password\s*=\s*)(\S+)", rf"\1{MASK}", masked)


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data that is safe to print or log."""
    data = settings.model_dump(mode="json")
    for section in ("production", "scratch", "audit"):
        if data[section].get("url"):
            data[section]["url"] = mask_url(data[section]["url"])
    for s3 in (data.get("s3"), (data.get("pgbackrest") or {}).get("repo")):
        for role in ("primary", "replica"):
            region = (s3 or {}).get(role)
            for key in ("secret_access_key", "session_token"):
                if region and region.get(key) is not None:
                    region[key] = MASK
    return data


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


def env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    tree: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        if name in ENV_ALIASES:
            path: tuple[str, ...] = ENV_ALIASES[name]
        elif "__" in name:
            path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        else:
            problems.append(f"{name}: unknown environment variable (use {ENV_PREFIX}SECTION__KEY)")
            continue
        _set_path(tree, path, _env_value(raw))
    return tree, problems


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        return {}, [f"config.file: cannot read {path}: {exc.strerror}"]
    except yaml.YAMLError as exc:
        return {}, [f"config.file: {path} is not valid YAML: {exc}"]
    if not isinstance(loaded, dict):
        return {}, [f"config.file: {path} must hold a mapping at the top level"]
    return loaded, []


def _describe(err: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in err["loc"]) or "(top level)"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"


def load_settings(config_file: str | Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated settings; raises ConfigError listing every problem at once."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = config_file or environ.get(CONFIG_ENV)
    if path:
        data, problems = read_yaml(Path(path))
    env_tree, env_problems = env_overrides(environ)
    problems += env_problems
    data = merge(merge(data, env_tree), overrides or {})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # Secrets never appear in the message: pydantic's msg does not echo input values.
        problems += [_describe(err) for err in exc.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings
