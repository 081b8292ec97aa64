"""Wiring of the query tracker: the /queries report and the index advisor thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .advisor import IndexAdvisor
from .collector import StatementsCollector
from .findings import wedding_day_active
from .report import QueryReport
from .suggestions import AdvisorResult

if TYPE_CHECKING:
    from ..cache import SnapshotCache
    from ..collectors.base import Collector
    from ..db import Database
    from ..settings import Settings


class QueryTracker:
    """Owns the report endpoint and the advisor; feeds advisor results to the collector."""

    def __init__(self, settings: Settings, database: Database, collectors: Sequence[Collector],
                 cache: SnapshotCache | None):
        self.collector = next((c for c in collectors if isinstance(c, StatementsCollector)), None)

        def wedding_day() -> bool:
            last = cache.last if cache is not None else None
            return wedding_day_active(last.headline if last is not None else None,
                                      settings.timezone, time.time())

        self.advisor: IndexAdvisor | None = None
        if settings.statements.advisor.enabled:
            self.advisor = IndexAdvisor(settings.statements, database, wedding_day)
            if self.collector is not None:
                self.collector.advisor = self.advisor
        self.report = QueryReport(settings, database, self.collector, self._advice, wedding_day)
        self.routes: dict[str, Callable[[dict[str, Any]], tuple[int, Any]]] = {
            "/queries": self.report}

    def _advice(self) -> AdvisorResult | None:
        return self.advisor.latest if self.advisor is not None else None

    def start(self) -> None:
        if self.advisor is not None:
            self.advisor.start()

    def stop(self) -> None:
        if self.advisor is not None:
            self.advisor.stop()
