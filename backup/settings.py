"""The verifier's settings, as validated models (loading and masking: :mod:`backup.loader`).

Every key has a default except what only the deployment can know: the buckets, the
production DSN and the scratch server. Secrets are ``SecretStr`` (never printed) and
an empty secret is an error, not "no secret".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from settings_layers.fields import IanaTimeZone

CHECKS = ("inventory", "integrity", "wal", "cross_region", "restore", "completeness", "freshness",
          "retention")  # wal: physical (pgBackRest) repositories only
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _postgres_url(value: str) -> str:
    if not re.match(r"^postgres(ql)?://", value) and "=" not in value:
        raise ValueError("must be a postgresql:// URL or a libpq key=value string")
    return value


class RegionSettings(_Section):
    """One S3 (or S3-compatible) location: the region name is also the metrics' ``region`` label."""

    region: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    prefix: str = ""
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    verify_tls: bool = True
    ca_bundle: str | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("access_key_id", "secret_access_key", "session_token", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (leave the key out to use the default AWS credentials)")
        return value

    @model_validator(mode="after")
    def _key_pair(self) -> RegionSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        return self


class S3Settings(_Section):
    primary: RegionSettings
    replica: RegionSettings | None = None
    connect_timeout_seconds: float = Field(5.0, gt=0, le=120)
    read_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    max_attempts: int = Field(3, ge=1, le=10)

    @model_validator(mode="after")
    def _distinct_regions(self) -> S3Settings:
        if self.replica is not None and self.replica.region == self.primary.region:
            raise ValueError("replica.region must differ from primary.region (it is the metrics' label)")
        return self


class DatabaseSettings(_Section):
    url: str
    statement_timeout_seconds: float = Field(300.0, gt=0, le=86_400)
    connect_timeout_seconds: float = Field(5.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _postgres_url(value)


class AuditSettings(_Section):
    url: str | None = None  # default: production.url, where the exporter reads the rows
    retention_days: int = Field(400, ge=1, le=3650)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _postgres_url(value)


class DrillSettings(_Section):
    database: str = Field("dbhealth_restore_drill", pattern=rf"^{_IDENT}$", max_length=63)
    jobs: int = Field(4, ge=1, le=64)
    region: Literal["primary", "replica"] = "primary"
    work_dir: str | None = None
    pg_bindir: str | None = None
    timeout_seconds: float = Field(4 * 3600.0, gt=0, le=7 * 86_400)


class IntegritySettings(_Section):
    backups: Literal["all", "newest"] = "all"
    regions: list[Literal["primary", "replica"]] = ["primary", "replica"]
    chunk_bytes: int = Field(1 << 20, ge=64 << 10, le=64 << 20)


class TargetSettings(_Section):
    rto_seconds: float = Field(3600.0, gt=0)
    rpo_seconds: float = Field(900.0, gt=0)
    backup_max_age_seconds: float = Field(93_600.0, gt=0)  # one daily run plus 2 hours
    wal_archiving: Literal["required", "optional"] = "required"


class RetentionSettings(_Section):
    daily: int = Field(7, ge=0, le=366)
    weekly: int = Field(4, ge=0, le=520)
    min_count: int = Field(7, ge=0, le=10_000)
    max_age_days: float = Field(35.0, gt=0)

    @model_validator(mode="after")
    def _coherent(self) -> RetentionSettings:
        if self.max_age_days < max(self.daily, 7 * self.weekly):
            raise ValueError("max_age_days is shorter than the daily/weekly window it must keep")
        return self


class TableSpec(_Section):
    name: str = Field(pattern=rf"^{_IDENT}(\.{_IDENT})?$")
    created_column: str | None = Field(None, pattern=rf"^{_IDENT}$")
    updated_column: str | None = Field(None, pattern=rf"^{_IDENT}$")

    @property
    def schema_and_table(self) -> tuple[str, str]:
        schema, _, table = self.name.rpartition(".")
        return schema or "public", table


def _demo_tables() -> list[TableSpec]:
    return [TableSpec(name=n, created_column="created_at") for n in
            ("weddings", "guests", "bookings", "vendors", "venues", "couples", "user_profiles")
            ] + [TableSpec(name="payments")]


DEMO_ORPHANS = {
    "guests_without_wedding": "SELECT count(*) FROM public.guests g WHERE NOT EXISTS "
                              "(SELECT 1 FROM public.weddings w WHERE w.id = g.wedding_id)",
    "bookings_without_vendor": "SELECT count(*) FROM public.bookings b WHERE NOT EXISTS "
                               "(SELECT 1 FROM public.vendors v WHERE v.id = b.vendor_id)",
    "bookings_without_wedding": "SELECT count(*) FROM public.bookings b WHERE NOT EXISTS "
                                "(SELECT 1 FROM public.weddings w WHERE w.id = b.wedding_id)",
    "payments_without_booking": "SELECT count(*) FROM public.payments p WHERE NOT EXISTS "
                                "(SELECT 1 FROM public.bookings b WHERE b.id = p.booking_id)",
}


class CompletenessSettings(_Section):
    tolerance_ratio: float = Field(0.005, ge=0, le=1)
    tolerance_rows: int = Field(10, ge=0)
    growth_allowance_per_hour: float = Field(0.001, ge=0, le=1)  # tables without a creation column
    max_newest_lag_seconds: float = Field(3600.0, ge=0)
    tables: list[TableSpec] = Field(default_factory=_demo_tables, max_length=500)
    orphans: dict[str, str] = Field(default_factory=lambda: dict(DEMO_ORPHANS))

    @field_validator("orphans")
    @classmethod
    def _orphan_queries(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, sql in value.items()
               if not re.fullmatch(_IDENT, k) or not re.match(r"^\s*(SELECT|WITH)\b", sql, re.I)]
        if bad:
            raise ValueError("each orphan check needs a name and a SELECT returning a count: "
                             + ", ".join(bad))
        return value


class CrossRegionSettings(_Section):
    replication_grace_seconds: float = Field(3600.0, ge=0)


class ScheduleSettings(_Section):
    cron: str = "0 2 * * *"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value


class PhysicalDrillSettings(_Section):
    """The pgBackRest drill: a scratch data directory, its own port and socket, never archiving."""

    target_time: datetime | None = None   # restore to this time (inside the recovery window)
    random_target: bool = False           # else a random time between the newest backup and the newest WAL
    work_dir: str | None = None
    port: int = Field(0, ge=0, le=65535)  # 0: a free port
    user: str = Field("postgres", pattern=rf"^{_IDENT}$")
    timeout_seconds: float = Field(4 * 3600.0, gt=0, le=7 * 86_400)
    server_options: dict[str, str] = Field(default_factory=lambda: {"shared_buffers": "128MB"})


class PgBackRestSettings(_Section):
    """A pgBackRest repository per region (``repo.primary.prefix`` is ``repo1-path``)."""

    stanza: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    repo: S3Settings
    binary: str = "pgbackrest"
    parallel: int = Field(4, ge=1, le=64)
    wal_segment_size: int | None = Field(None, ge=1 << 20, le=1 << 30)
    drill: PhysicalDrillSettings = PhysicalDrillSettings()


class Settings(_Section):
    s3: S3Settings | None = None
    pgbackrest: PgBackRestSettings | None = None
    production: DatabaseSettings
    scratch: DatabaseSettings
    audit: AuditSettings = AuditSettings()
    drill: DrillSettings = DrillSettings()
    integrity: IntegritySettings = IntegritySettings()
    targets: TargetSettings = TargetSettings()
    retention: RetentionSettings = RetentionSettings()
    completeness: CompletenessSettings = CompletenessSettings()
    cross_region: CrossRegionSettings = CrossRegionSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    checks: list[str] = Field(default_factory=lambda: list(CHECKS))
    timezone: IanaTimeZone = "Europe/London"
    progress_interval_seconds: float = Field(5.0, ge=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
        return [c for c in CHECKS if c in value]

    @model_validator(mode="after")
    def _some_backups(self) -> Settings:
        if self.s3 is None and self.pgbackrest is None:
            raise ValueError("configure s3 (logical dumps), pgbackrest (physical), or both")
        return self

    @property
    def audit_url(self) -> str:
        return self.audit.url or self.production.url

    def region(self, role: str) -> RegionSettings | None:
        if self.s3 is None:
            return None
        return self.s3.primary if role == "primary" else self.s3.replica
