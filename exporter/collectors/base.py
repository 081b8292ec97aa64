"""What a collector is: one PostgreSQL view (or topic), one SQL statement, fresh metric families.

A collector is built once per process from the settings and then called on every
fresh collection with a :class:`CollectContext`. It runs at most one statement
through ``ctx.query`` and returns a :class:`Collected`: newly built
``prometheus_client`` metric families, as client_python's own collectors do
(nothing long-lived that could go stale), plus the few headline numbers it
vouches for (``/health/full``, audit rows). Errors propagate; the scraper turns
them into ``dbhealth_collector_success{collector} 0`` and serves the rest.

A collector that can say something without the database (the wedding-day clock)
returns what it has with ``error`` set instead of raising. ``ctx.query`` is a plain
callable, so tests feed a collector fake rows without a database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from prometheus_client.core import Metric

from ..wedding.calendar import WeddingDayState

Row = tuple[Any, ...]
QueryFn = Callable[[str, Sequence[Any] | Mapping[str, Any] | None], list[Row]]


@dataclass
class CollectContext:
    query: QueryFn
    now: float  # wall-clock epoch seconds at the start of the collection
    # The same, results in PostgreSQL's binary format (cheaper to parse for many rows);
    # None: only ``query`` (fakes in tests).
    query_binary: QueryFn | None = None


@dataclass
class Collected:
    """What one collector produced in one collection."""

    families: list[Metric]
    # Headline numbers for /health/full and the audit rows, keyed like the metrics they mirror.
    summary: dict[str, float] = field(default_factory=dict)
    wedding: WeddingDayState | None = None  # the wedding collector's decision
    error: Exception | None = None  # failed, but ``families`` are still worth serving


class Collector(Protocol):
    name: ClassVar[str]

    def collect(self, ctx: CollectContext) -> Collected: ...


def seconds(value: Any) -> float:
    """NULL-safe float for epoch / interval columns already converted to seconds in SQL."""
    return 0.0 if value is None else float(value)


def state_label(state: str | None) -> str:
    """pg_stat_activity's state as a label value: 'idle in transaction (aborted)' →
    'idle_in_transaction_aborted'; NULL (background workers) → 'unknown'."""
    if not state:
        return "unknown"
    return "_".join(state.replace("(", " ").replace(")", " ").split())
