"""Exporter settings: defaults → YAML file → environment → command-line flags.

Everything is validated once, at start, and every problem is reported together,
each naming its key (``cache.l1_ttl_seconds: Input should be greater than 0``).
Unknown keys are errors too, so a typo never silently falls back to a default.
Secrets (the DSN's password, Redis password, the bearer token) are masked
whenever settings are shown or logged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .collectors import COLLECTOR_DEFAULTS
from .errors import ConfigError
from .queries.settings import StatementsSettings
from .wedding_settings import WeddingSettings

ENV_PREFIX = "DBHEALTH_"
# Fixed names from the SPEC; anything else is DBHEALTH_<SECTION>__<KEY>.
ENV_ALIASES = {
    "DBHEALTH_DATABASE_URL": ("database", "url"),
    "DBHEALTH_REDIS_URL": ("redis", "url"),
    "DBHEALTH_TIMEZONE": ("timezone",),
}
ENV_IGNORED = {"DBHEALTH_CONFIG"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    pool_size: int = Field(5, ge=1, le=20)
    application_name: str = Field("dbhealth-exporter", min_length=1, max_length=63)
    connect_timeout_seconds: float = Field(3.0, gt=0, le=60)
    statement_timeout_seconds: float = Field(2.0, gt=0, le=300)
    lock_timeout_seconds: float = Field(0.1, gt=0, le=60)
    pool_wait_seconds: float = Field(1.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not re.match(r"^postgres(ql)?://", value) and "=" not in value:
            raise ValueError("must be a postgresql:// URL or a libpq key=value string")
        return value


class RedisSettings(_Section):
    url: str | None = None
    key_prefix: str = "dbhealth"
    socket_timeout_seconds: float = Field(0.05, gt=0, le=5)
    retry_after_seconds: float = Field(5.0, ge=0, le=300)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class CacheSettings(_Section):
    l1_ttl_seconds: float = Field(30.0, ge=0, le=3600)
    l2_ttl_seconds: float = Field(60.0, ge=0, le=3600)
    l2_wedding_day_ttl_seconds: float = Field(30.0, ge=0, le=3600)
    error_ttl_seconds: float = Field(5.0, ge=0, le=300)


class AuditSettings(_Section):
    enabled: bool = True
    interval_seconds: float = Field(300.0, ge=10, le=86400)
    retention_days: int = Field(30, ge=1, le=3650)


class WebSettings(_Section):
    listen_address: str = "0.0.0.0:9188"
    auth_token: str | None = None
    rate_limit_per_minute: int = Field(120, ge=0, le=100_000)
    default_scrape_timeout_seconds: float = Field(10.0, gt=0, le=600)
    scrape_timeout_offset_seconds: float = Field(0.5, ge=0, le=60)

    @field_validator("listen_address")
    @classmethod
    def _address(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be HOST:PORT (e.g. 0.0.0.0:9188 or :9188)")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen_address.rpartition(":")
        return (host.strip("[]") or "0.0.0.0"), int(port)


class TablesSettings(_Section):
    watched: list[str] = Field(
        default_factory=lambda: ["guests", "weddings", "bookings", "vendors", "venues",
                                 "couples", "payments", "user_profiles"],
        max_length=500,
    )

    @field_validator("watched")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?", v)]
        if bad:
            raise ValueError(f"not a table name or schema.table: {', '.join(bad)}")
        return value


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    cache: CacheSettings = CacheSettings()
    audit: AuditSettings = AuditSettings()
    web: WebSettings = WebSettings()
    tables: TablesSettings = TablesSettings()
    statements: StatementsSettings = StatementsSettings()
    wedding: WeddingSettings = WeddingSettings()
    timezone: str = "Europe/London"
    collectors: dict[str, bool] = Field(default_factory=lambda: dict(COLLECTOR_DEFAULTS))
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("collectors")
    @classmethod
    def _known_collectors(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(COLLECTOR_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown collector(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(COLLECTOR_DEFAULTS))}")
        return {**COLLECTOR_DEFAULTS, **value}

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.upper()

    @property
    def enabled_collectors(self) -> list[str]:
        return [name for name, on in self.collectors.items() if on]

    def masked(self) -> dict[str, Any]:
        """The settings as a dict that is safe to log."""
        data = self.model_dump()
        data["database"]["url"] = mask_url(self.database.url)
        if self.redis.url:
            data["redis"]["url"] = mask_url(self.redis.url)
        if self.web.auth_token:
            data["web"]["auth_token"] = "***"  # noqa: S105 - the mask, not a secret
        return data


def mask_url(url: str) -> str:
    """Hide the password of a URL or a libpq ``password=`` pair."""
    masked = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", masked)


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
        if not name.startswith(ENV_PREFIX) or name in ENV_IGNORED:
            continue
        if name in ENV_ALIASES:
            path: tuple[str, ...] = ENV_ALIASES[name]
        elif "__" in name:
            path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        else:
            problems.append(f"{name}: unknown environment variable (use DBHEALTH_SECTION__KEY)")
            continue
        _set_path(tree, path, _env_value(raw))
    return tree, problems


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
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


def load_settings(config_file: str | Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated settings; raises ConfigError listing every problem at once."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = config_file or environ.get("DBHEALTH_CONFIG")
    if path:
        data, problems = read_yaml(Path(path))
    env_tree, env_problems = env_overrides(environ)
    problems += env_problems
    data = _merge(_merge(data, env_tree), overrides or {})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"]) or "(top level)"
            problems.append(f"{key}: {err['msg']}")
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings
