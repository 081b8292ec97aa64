"""Exporter settings: defaults → YAML file → environment → command-line flags.

Validated once, at start; every problem is reported together, each naming its key
(``cache.l1_ttl_seconds: Input should be greater than 0``). Unknown keys are errors, so
a typo never falls back to a default. Secrets (the DSN's and Redis's passwords, the
bearer token) are masked whenever settings are shown or logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from settings_layers import EnvLayout, SettingsProblems, load_layered
from settings_layers.fields import IanaTimeZone

from .collectors import COLLECTOR_DEFAULTS
from .errors import ConfigError
from .redact import MASK, mask_url
from .statements.settings import StatementsSettings
from .wedding.settings import WeddingSettings

# Fixed names from the SPEC; anything else is DBHEALTH_<SECTION>__<KEY>.
ENV_LAYOUT = EnvLayout(prefix="DBHEALTH_", config_env="DBHEALTH_CONFIG", aliases={
    "DBHEALTH_DATABASE_URL": ("database", "url"),
    "DBHEALTH_REDIS_URL": ("redis", "url"),
    "DBHEALTH_TIMEZONE": ("timezone",),
})


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
    # Where `dbhealth-exporter migrate` creates the exporter's own tables. Monitoring
    # sessions run with search_path = pg_catalog, so these are always named with it.
    exporter_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_$]*$", max_length=63)

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
    # Optional HMAC key shared by the replicas: snapshots in Redis without a valid
    # signature are ignored (anyone who can write to Redis could otherwise feed them).
    signing_key: str | None = None

    @field_validator("signing_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < 16:
            raise ValueError("must be at least 16 characters (omit it to leave snapshots unsigned)")
        return value

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class CacheSettings(_Section):
    # Wedding days: no tier keeps a snapshot past l2_wedding_day_ttl (docs/latency.md).
    l1_ttl_seconds: float = Field(30.0, ge=0, le=3600)
    l2_ttl_seconds: float = Field(60.0, ge=0, le=3600)
    l2_wedding_day_ttl_seconds: float = Field(9.0, ge=0, le=3600)
    error_ttl_seconds: float = Field(5.0, ge=0, le=300)
    # A shared snapshot stamped further ahead is refused: it would look fresh forever.
    max_clock_skew_seconds: float = Field(2.0, ge=0, le=60)

    def shared_ttl(self, wedding_day: bool | None) -> float:
        """How long a shared (L2) snapshot is served; an unknown day counts as a wedding day."""
        return self.l2_ttl_seconds if wedding_day is False else self.l2_wedding_day_ttl_seconds

    def local_ttl(self, wedding_day: bool | None) -> float:
        """How long a process serves its own (L1) snapshot: never past the shared TTL."""
        return min(self.l1_ttl_seconds, self.shared_ttl(wedding_day))


class AuditSettings(_Section):
    enabled: bool = True
    interval_seconds: float = Field(300.0, ge=10, le=86400)
    retention_days: int = Field(30, ge=1, le=3650)


class WebSettings(_Section):
    listen_address: str = "0.0.0.0:9188"
    auth_token: str | None = None
    rate_limit_per_minute: int = Field(120, ge=0, le=100_000)
    # /health has its own bucket: the token endpoints never starve load balancers.
    health_rate_limit_per_minute: int = Field(600, ge=0, le=100_000)
    # The connection handler: requests are read asynchronously and answered by a fixed
    # pool of threads, so slow or idle clients hold a socket, never a thread.
    threads: int = Field(8, ge=1, le=64)
    max_connections: int = Field(1000, ge=10, le=100_000)
    read_timeout_seconds: float = Field(10.0, gt=0, le=300)
    default_scrape_timeout_seconds: float = Field(10.0, gt=0, le=600)
    scrape_timeout_offset_seconds: float = Field(0.5, ge=0, le=60)

    @field_validator("auth_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (omit the key to serve the JSON endpoints "
                             "without a token)")
        return value

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
    timezone: IanaTimeZone = "Europe/London"
    collectors: dict[str, bool] = Field(default_factory=lambda: dict(COLLECTOR_DEFAULTS))
    log_level: str = "INFO"

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
            data["web"]["auth_token"] = MASK
        if self.redis.signing_key:
            data["redis"]["signing_key"] = MASK
        return data


def load_settings(config_file: str | Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated settings; raises ConfigError listing every problem at once."""
    try:
        return load_layered(Settings, ENV_LAYOUT, config_file=config_file,
                            environ=os.environ if environ is None else environ, overrides=overrides)
    except SettingsProblems as exc:
        raise ConfigError(exc.problems) from None
