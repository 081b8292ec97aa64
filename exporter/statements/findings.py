"""Slow-pattern findings for one statement (pure), and the large seq-scanned tables query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import StatementsSettings

# Size from the planner's estimate too: n_live_tup starts at 0 after a restore or clone.
LARGE_SEQ_SCANNED_SQL = """
SELECT s.schemaname, s.relname, greatest(s.n_live_tup, c.reltuples::bigint), s.seq_scan,
       coalesce(s.idx_scan, 0), s.seq_tup_read
FROM pg_catalog.pg_stat_user_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid
WHERE greatest(s.n_live_tup, c.reltuples) >= %(large)s AND s.seq_scan > coalesce(s.idx_scan, 0)
ORDER BY s.seq_tup_read DESC LIMIT 50
"""


@dataclass(frozen=True)
class StatementStats:
    queryid: int
    calls: float
    total_ms: float
    max_ms: float
    rows: float

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0


# Domains where moving many rows per call is a bulk operation (a guest-list import, a
# seating export), reported as such rather than as a slow statement.
BULK_DOMAINS = frozenset({"guest_list"})


def findings(stats: StatementStats, cfg: StatementsSettings, *, threshold_ms: float,
             tables: set[str], seq_scanned: set[str],
             regression: tuple[float, float] | None, domain: str = "other",
             plan_regressed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """What is wrong with one statement: slow, seq scans on large tables, N+1, regression,
    a plan that got worse; or that it is a bulk operation (not slow, not N+1)."""
    found: list[dict[str, Any]] = []
    if domain in BULK_DOMAINS and stats.rows_per_call >= cfg.bulk_rows_per_call:
        found.append({"kind": "bulk_operation", "rows_per_call": round(stats.rows_per_call, 1),
                      "mean_ms": round(stats.mean_ms, 3), "calls": int(stats.calls)})
    elif stats.mean_ms >= threshold_ms:
        found.append({"kind": "slow", "mean_ms": round(stats.mean_ms, 3),
                      "threshold_ms": threshold_ms})
    for table in sorted(tables & seq_scanned):
        found.append({"kind": "seq_scan_large_table", "table": table})
    for table in plan_regressed:
        found.append({"kind": "plan_regression", "table": table, "before": "index",
                      "after": "seq"})
    if stats.calls >= cfg.n_plus_one_min_calls \
            and stats.rows_per_call <= cfg.n_plus_one_max_rows_per_call:
        found.append({"kind": "n_plus_one", "calls": int(stats.calls),
                      "rows_per_call": round(stats.rows_per_call, 3)})
    if regression is not None:
        recent, earlier = regression
        found.append({"kind": "regression", "recent_mean_ms": round(recent, 3),
                      "earlier_mean_ms": round(earlier, 3),
                      "factor": round(recent / earlier, 2) if earlier > 0 else None})
    return found
