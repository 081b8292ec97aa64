"""The ``statements:`` settings section: pg_stat_statements tracking, report and index advisor."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..sqlcheck import check_business_sql

DOMAINS = ("guest_list", "vendor_schedule", "booking", "venue_availability", "payment",
           "wedding", "other")
# Domains that matter on the day itself: ranked first in /queries when a wedding is near.
WEDDING_CRITICAL_DOMAINS = ("guest_list", "vendor_schedule", "venue_availability", "booking")

DEFAULT_TABLE_DOMAINS = {
    "guests": "guest_list",
    "bookings": "vendor_schedule",
    "vendors": "vendor_schedule",
    "venues": "venue_availability",
    "payments": "payment",
    "weddings": "wedding",
    "couples": "wedding",
}
# When a statement touches several mapped tables, the most specific domain wins:
# a payment joined to its booking is about payments, guests joined to weddings are the guest list.
DEFAULT_DOMAIN_PRIORITY = ["payment", "guest_list", "vendor_schedule", "booking",
                           "venue_availability", "wedding"]

DEFAULT_UPCOMING_WEDDINGS_SQL = (
    "SELECT count(*) FROM public.weddings WHERE wedding_date BETWEEN "
    "(now() AT TIME ZONE %(tz)s)::date AND (now() AT TIME ZONE %(tz)s)::date + 7"
)

_TABLE = re.compile(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdvisorSettings(_Strict):
    enabled: bool = True
    interval_seconds: float = Field(600.0, ge=1, le=86400)
    initial_delay_seconds: float = Field(60.0, ge=0, le=86400)
    # Candidates: the top max_statements by total time, plus every slow statement and
    # every statement reading large_scan_blocks_per_call shared blocks (8 KiB) per call,
    # at most 2 x max_statements (exporter.statements.ranking).
    max_statements: int = Field(20, ge=1, le=200)
    large_scan_blocks_per_call: float = Field(1000.0, ge=1)
    # Per statement: the index must cut its plan's estimated cost by this much (dexter) ...
    min_saving_ratio: float = Field(0.5, gt=0, lt=1)
    # ... and in total: save this much execution time per hour across its statements.
    min_seconds_saved_per_hour: float = Field(1.0, ge=0)
    statement_timeout_seconds: float = Field(1.0, gt=0, le=60)
    lock_timeout_seconds: float = Field(0.05, gt=0, le=10)
    # The run holds one of the pool's connections: stop planning more statements after this.
    max_run_seconds: float = Field(30.0, gt=0, le=3600)
    # Roles besides superusers whose tables (and the code those tables use) the advisor
    # may plan statements against: typically the owner of the application's schema.
    trusted_owners: list[str] = Field(default_factory=list, max_length=100)


class StatementsSettings(_Strict):
    top_n: int = Field(50, ge=1, le=1000)
    # Where the application's unqualified table names live, in its search_path order
    # (the advisor names every table with its schema before planning).
    schemas: list[str] = Field(default_factory=lambda: ["public"], min_length=1, max_length=50)
    include_nested: bool = False
    all_databases: bool = False
    text_fetch_interval_seconds: float = Field(60.0, ge=0, le=86400)
    # Texts of new queryids are fetched off the scrape path, this many per statement.
    text_batch_size: int = Field(500, ge=1, le=10_000)
    missing_recheck_seconds: float = Field(60.0, ge=0, le=86400)
    # pg_stat_statements is read this long before the collection Prometheus' period
    # says is next, beside the scrape rather than inside it (exporter.prefetch); 0 reads
    # it during the collection. A reading older than prefetch_max_age_seconds is never
    # served: the collection reads it again.
    prefetch_seconds: float = Field(1.0, ge=0, le=30)
    prefetch_max_age_seconds: float = Field(3.0, ge=0, le=60)
    max_known_statements: int = Field(20_000, ge=100, le=1_000_000)
    table_domains: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TABLE_DOMAINS))
    domain_priority: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAIN_PRIORITY))
    slow_threshold_ms: float = Field(500.0, gt=0)
    wedding_day_factor: float = Field(0.5, gt=0, le=1)
    large_table_rows: int = Field(100_000, ge=1)
    # Statements on the guest list moving at least this many rows per call are bulk
    # operations (imports, exports): reported as such, never as slow statements.
    bulk_rows_per_call: float = Field(1000.0, gt=0)
    n_plus_one_min_calls: int = Field(10_000, ge=1)
    n_plus_one_max_rows_per_call: float = Field(1.0, ge=0)
    regression_factor: float = Field(2.0, gt=1)
    regression_min_calls: int = Field(20, ge=1)
    regression_min_mean_ms: float = Field(1.0, ge=0)
    report_limit: int = Field(50, ge=1, le=5000)
    max_text_chars: int = Field(2000, ge=100, le=100_000)
    upcoming_weddings_sql: str = DEFAULT_UPCOMING_WEDDINGS_SQL
    advisor: AdvisorSettings = AdvisorSettings()

    @model_validator(mode="after")
    def _prefetch(self) -> StatementsSettings:
        if self.prefetch_seconds > 0 and self.prefetch_max_age_seconds < self.prefetch_seconds:
            raise ValueError(f"prefetch_max_age_seconds ({self.prefetch_max_age_seconds:g}) "
                             f"is below prefetch_seconds ({self.prefetch_seconds:g}): no reading "
                             "taken ahead could ever be served")
        return self

    @field_validator("upcoming_weddings_sql")
    @classmethod
    def _upcoming(cls, value: str) -> str:
        value = value.strip().rstrip(";").strip()
        check_business_sql(value, ("tz",))
        return value

    @field_validator("table_domains")
    @classmethod
    def _domains(cls, value: dict[str, str]) -> dict[str, str]:
        bad_tables = [t for t in value if not _TABLE.fullmatch(t)]
        bad_domains = sorted({d for d in value.values() if d not in DOMAINS})
        problems = []
        if bad_tables:
            problems.append(f"not a table name or schema.table: {', '.join(bad_tables)}")
        if bad_domains:
            problems.append(f"unknown domain(s) {', '.join(bad_domains)}; known: {', '.join(DOMAINS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return {t.lower(): d for t, d in value.items()}

    @field_validator("domain_priority")
    @classmethod
    def _priority(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
        return value

    def slow_threshold(self, wedding_day: bool) -> float:
        """The slow-statement threshold in ms: 50% stricter (by default) on wedding days."""
        return self.slow_threshold_ms * (self.wedding_day_factor if wedding_day else 1.0)
