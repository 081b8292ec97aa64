"""What the index advisor found: plain data shared by the collector, the report and the advisor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


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
    saving_ratio: float | None = None  # 1 - cost_after / cost_before, best over its statements
    cost_before: float | None = None
    cost_after: float | None = None

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
            "queryids": [str(q) for q in self.queryids],
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

    def as_dict(self) -> dict[str, object]:
        return {
            "finished_at": self.finished_at, "hypopg_available": self.hypopg,
            "slow_threshold_ms": self.threshold_ms, "statements_evaluated": self.evaluated,
            "skipped": dict(self.skipped), "error": self.error,
            "suggestions": [s.as_dict() for s in self.suggestions],
        }
