"""What the index advisor found: plain data shared by the collector, the report and the advisor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .plans import PlanChange
from .ranking import Helped, saved_ms_per_hour


def table_label(schema: str | None, name: str) -> str:
    """How a table is named in labels and reports: without ``public.``."""
    return name if schema in (None, "", "public") else f"{schema}.{name}"


def seq_scan_finding(row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``LARGE_SEQ_SCANNED_SQL`` as the report and the advisor show it."""
    return {"table": table_label(row[0], row[1]), "live_rows": row[2], "seq_scans": row[3],
            "index_scans": row[4], "seq_rows_read": row[5], "finding": "seq_scan_large_table"}


@dataclass(frozen=True)
class IndexSuggestion:
    schema: str
    table: str
    columns: tuple[str, ...]
    method: str  # "hypopg": what-if planned; "heuristic": table statistics only
    queryids: tuple[int, ...]
    # "hypopg": share of its statements' execution time it saves (time-weighted)
    saving_ratio: float | None = None
    cost_before: float | None = None  # of the statement it helps most
    cost_after: float | None = None
    helped: tuple[Helped, ...] = ()  # "hypopg": every statement it helps, most saved first

    @property
    def seconds_saved_per_hour(self) -> float | None:
        return round(saved_ms_per_hour(self.helped) / 1000.0, 3) if self.helped else None

    @property
    def table_label(self) -> str:
        return table_label(self.schema, self.table)

    @property
    def columns_label(self) -> str:
        return ",".join(self.columns)

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table_label, "columns": list(self.columns), "method": self.method,
            "estimated_saving_ratio": None if self.saving_ratio is None
            else round(self.saving_ratio, 4),
            "estimated_cost_before": self.cost_before, "estimated_cost_after": self.cost_after,
            "estimated_seconds_saved_per_hour": self.seconds_saved_per_hour,
            "queryids": [str(q) for q in self.queryids],
            "statements": [{
                "queryid": str(h.queryid), "estimated_saving_ratio": round(h.saving_ratio, 4),
                "execution_seconds_per_hour": round(h.ms_per_hour / 1000.0, 3),
                "estimated_seconds_saved_per_hour": round(h.saved_ms_per_hour / 1000.0, 3),
                "estimated_cost_before": round(h.cost_before, 2),
                "estimated_cost_after": round(h.cost_after, 2),
            } for h in self.helped],
            "ddl": f"CREATE INDEX CONCURRENTLY ON {self.table_label} ({', '.join(self.columns)})",
        }


@dataclass(frozen=True)
class AdvisorResult:
    finished_at: float
    hypopg: bool
    threshold_ms: float
    evaluated: int = 0
    suggestions: tuple[IndexSuggestion, ...] = ()
    table_findings: tuple[dict[str, object], ...] = ()
    error: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    duration_seconds: float = 0.0
    plan_changes: tuple[PlanChange, ...] = ()  # top statements whose plan got worse

    def as_dict(self) -> dict[str, object]:
        return {
            "finished_at": self.finished_at, "hypopg_available": self.hypopg,
            "slow_threshold_ms": self.threshold_ms, "statements_evaluated": self.evaluated,
            "duration_seconds": round(self.duration_seconds, 3),
            "skipped": dict(self.skipped), "error": self.error,
            "suggestions": [s.as_dict() for s in self.suggestions],
            "plan_changes": [c.as_dict() for c in self.plan_changes],
        }
