"""Monotonic counters over pg_stat_statements, whatever happens to its entries.

pg_stat_statements' counters go down: ``pg_stat_statements_reset()`` zeroes them
and ``pg_stat_statements.max`` evicts the least used entries (which may come
back later from zero). Exporting them raw makes Prometheus see counter resets
and, summed by domain, plain drops. So this tracker keeps the last values seen
per entry (queryid, dbid, userid) and only ever *adds* deltas:

- entry seen before and no counter lower: delta = now - before;
- entry new, or any counter lower (reset), or ``stats_reset`` moved: delta = now;
- entry gone (evicted): nothing to add; what it contributed stays.

Each delta goes to exactly one statement series: the statement's own when it is
in the top N by total time at that collection, else the single remainder
(``queryid="other"``). A statement that leaves the top N keeps the value it
had (retained, up to ``retain`` statements) and its series is simply no longer
exported; if it comes back it continues from there. So no exported series ever
decreases, and per collection ``sum(increase)`` over all statement series equals
the increase of the domain totals.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .settings import DOMAINS

Key = tuple[int | None, int, int]  # queryid (None: not visible to us), dbid, userid
# (queryid, dbid, userid, calls, total_exec_time ms, rows)
EntryRow = tuple[int | None, int, int, int, float, int]


@dataclass
class Totals:
    calls: float = 0.0
    seconds: float = 0.0
    rows: float = 0.0

    def add(self, calls: float, seconds: float, rows: float) -> None:
        self.calls += calls
        self.seconds += seconds
        self.rows += rows


@dataclass
class WindowStats:
    """A statement's recent mean against its own earlier mean (regression detection)."""

    calls: float = 0.0
    seconds: float = 0.0
    windows: int = 0
    baseline_ms: float = 0.0
    recent_ms: float = 0.0


@dataclass
class Deltas:
    by_queryid: dict[int, tuple[float, float]] = field(default_factory=dict)  # calls, seconds
    unclassified: set[int] = field(default_factory=set)


class StatementTracker:
    def __init__(self, top_n: int, retain: int | None = None, regression_min_calls: int = 20):
        self.top_n = top_n
        self.retain = max(top_n, retain if retain is not None else 10 * top_n)
        self.regression_min_calls = regression_min_calls
        self.domains: dict[str, Totals] = {d: Totals() for d in DOMAINS}
        self.series: OrderedDict[int, Totals] = OrderedDict()
        self.series_domain: dict[int, str] = {}
        self.other = Totals()
        self.tracked: list[int] = []
        self.entries = 0
        self.windows: dict[int, WindowStats] = {}
        self.last: dict[Key, tuple[int, float, int]] = {}
        self.stats_reset: float | None = None
        # Shared-state bookkeeping (exporter.statements.shared): which version this is, and when
        # the pg_stat_statements reading it includes was taken.
        self.generation = 0
        self.read_at = 0.0
        # Total time per queryid over ``last``, kept up to date row by row; rebuilt when
        # ``last`` is replaced (identity check: the dict it was built for).
        self._totals_ms: dict[int, float] = {}
        self._totals_of: dict[Key, tuple[int, float, int]] | None = None
        self._folded: set[EntryRow] = set()  # the rows of the last reading folded in

    def update(self, rows: Sequence[EntryRow], domain_of: Mapping[int, str],
               stats_reset: float | None) -> Deltas:
        """Fold one pg_stat_statements reading in. Rows identical to ones already folded
        in (counters unchanged: most rows, most of the time) are dropped first, by one
        set difference, before any other work. Entries whose queryid has no domain yet
        are held back: they keep the baseline they had (none when new), so what they did
        meanwhile counts once they are classified."""
        if stats_reset is not None and self.stats_reset is not None \
                and stats_reset != self.stats_reset:
            self.last = {}  # everything was reset: every value now is new since then
        self.stats_reset = stats_reset if stats_reset is not None else self.stats_reset
        last = self.last
        if self._totals_of is not last:  # replaced (a reset, or a peer's state from Redis)
            self._rebuild_totals()
        totals_ms = self._totals_ms
        current = set(rows)
        changed = current - self._folded
        known = len(current) - len(changed)  # unchanged rows: their entries are in ``last``
        added = 0
        rerank = not self._folded  # everything is new: rank every statement
        touched: set[int] = set()
        held: set[EntryRow] = set()
        out = Deltas()
        deltas = out.by_queryid
        for row in changed:
            queryid = row[0]
            key: Key = row[:3]
            now: tuple[int, float, int] = row[3:]
            before = last.get(key)
            if before is not None:
                known += 1
            if queryid is None:
                domain = "other"
            else:
                domain = domain_of.get(queryid)  # type: ignore[assignment]
                if domain is None:  # held back: the baseline (a peer's, or none) stays
                    out.unclassified.add(queryid)
                    held.add(row)
                    continue
                touched.add(queryid)
                if before == now:
                    continue  # held back before, same counters as its baseline
                step = now[1] - (before[1] if before is not None else 0.0)
                totals_ms[queryid] = totals_ms.get(queryid, 0.0) + step
                rerank = rerank or step < 0
            if before is None:
                added += 1
            last[key] = now
            calls, total_ms, nrows = now
            if before is None or calls < before[0] or total_ms < before[1] or nrows < before[2]:
                d_calls, d_ms, d_rows = now
            else:
                d_calls, d_ms, d_rows = calls - before[0], total_ms - before[1], nrows - before[2]
            if not (d_calls or d_ms or d_rows):
                continue
            self.domains[domain].add(d_calls, d_ms / 1000.0, d_rows)
            if queryid is None:
                self.other.add(d_calls, d_ms / 1000.0, 0.0)
            else:
                prev = deltas.get(queryid, (0.0, 0.0))
                deltas[queryid] = (prev[0] + d_calls, prev[1] + d_ms / 1000.0)
        if known + added < len(last):  # entries gone (evicted, or reset one by one)
            present = {row[:3] for row in rows}
            for gone in [k for k in last if k not in present]:
                del last[gone]
            self._rebuild_totals()
            rerank = True
        self._folded = current - held if held else current
        self.entries = len(rows)
        self._attribute(deltas, domain_of, None if rerank else touched)
        return out

    def _rebuild_totals(self) -> None:
        """Total time per queryid over the entries in ``last`` (what the top N ranks by)."""
        totals: dict[int, float] = {}
        for (queryid, _, _), (_, total_ms, _) in self.last.items():
            if queryid is not None:
                totals[queryid] = totals.get(queryid, 0.0) + total_ms
        self._totals_ms = totals
        self._totals_of = self.last
        self._folded = set()

    def _attribute(self, deltas: dict[int, tuple[float, float]], domain_of: Mapping[int, str],
                   touched: set[int] | None) -> None:
        """The top N by total time, and each delta to its series or to ``other``. When
        no total went down (``touched``: the statements whose total moved), only the
        last top N and the touched statements can be in the new one."""
        totals_ms = self._totals_ms
        if touched is None or len(self.tracked) < self.top_n:
            pool: Iterable[int] = (q for q in totals_ms if q in domain_of)
        else:
            pool = set(self.tracked) | {q for q in touched if q in domain_of}
        top = heapq.nlargest(self.top_n, pool, key=totals_ms.__getitem__)
        top_set = set(top)
        for queryid in top:
            if queryid not in self.series:
                self.series[queryid] = Totals()
            self.series.move_to_end(queryid)
            self.series_domain[queryid] = domain_of[queryid]
        while len(self.series) > self.retain:
            gone, _ = self.series.popitem(last=False)
            self.series_domain.pop(gone, None)
        for queryid, (d_calls, d_seconds) in deltas.items():
            target = self.series[queryid] if queryid in top_set else self.other
            target.add(d_calls, d_seconds, 0.0)
        self.tracked = top

    def watch(self, deltas: dict[int, tuple[float, float]]) -> None:
        """Close a statement's window once it has enough calls; keep an EWMA of the means."""
        for queryid, (d_calls, d_seconds) in deltas.items():
            stats = self.windows.get(queryid)
            if stats is None:
                stats = self.windows[queryid] = WindowStats()
            stats.calls += d_calls
            stats.seconds += d_seconds
            if stats.calls < self.regression_min_calls:
                continue
            mean_ms = 1000.0 * stats.seconds / stats.calls
            stats.recent_ms = mean_ms
            if stats.windows == 0:
                stats.baseline_ms = mean_ms
            else:
                stats.baseline_ms = 0.7 * stats.baseline_ms + 0.3 * mean_ms
            stats.windows += 1
            stats.calls = stats.seconds = 0.0
        if len(self.windows) > self.retain * 4:
            for queryid in list(self.windows)[: len(self.windows) - self.retain * 4]:
                del self.windows[queryid]

    def regression(self, queryid: int, factor: float, min_mean_ms: float) -> tuple[float, float] | None:
        """(recent mean ms, earlier mean ms) when the last window is ``factor`` x slower."""
        stats = self.windows.get(queryid)
        if stats is None or stats.windows < 3:
            return None
        # The EWMA already took the recent window in; compare with what it was before.
        earlier = (stats.baseline_ms - 0.3 * stats.recent_ms) / 0.7
        if stats.recent_ms >= min_mean_ms and stats.recent_ms >= factor * max(earlier, 1e-9):
            return stats.recent_ms, earlier
        return None
