"""What a collector is: one PostgreSQL view (or topic), one SQL statement, fresh metric families.

A collector is built once per process from the settings and then called on every
fresh collection with a :class:`CollectContext`. It runs at most one statement
through ``ctx.query`` and yields newly built ``prometheus_client`` metric
families, as client_python's own collectors do: nothing long-lived that could go
stale. Errors propagate; the scraper turns them into
``dbhealth_collector_success{collector} 0`` and serves the rest.

A collector that can say something without the database (the wedding-day clock,
say) may catch :class:`exporter.errors.DatabaseUnavailable` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from prometheus_client.core import Metric

if TYPE_CHECKING:
    from ..settings import Settings

Row = tuple[Any, ...]
QueryFn = Callable[[str, Sequence[Any] | Mapping[str, Any] | None], list[Row]]


@dataclass
class CollectContext:
    query: QueryFn
    settings: Settings
    now: float  # wall-clock epoch seconds at the start of the collection


class Collector(Protocol):
    name: ClassVar[str]

    def collect(self, ctx: CollectContext) -> Iterable[Metric]: ...


CollectorFactory = Callable[["Settings"], Collector]


def seconds(value: Any) -> float:
    """NULL-safe float for epoch / interval columns already converted to seconds in SQL."""
    return 0.0 if value is None else float(value)


def state_label(state: str | None) -> str:
    """pg_stat_activity's state as a label value: 'idle in transaction (aborted)' →
    'idle_in_transaction_aborted'; NULL (background workers) → 'unknown'."""
    if not state:
        return "unknown"
    return "_".join(state.replace("(", " ").replace(")", " ").split())
