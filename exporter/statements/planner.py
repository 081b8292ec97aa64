"""One advisor run's what-if planning (HypoPG): each statement's best index, then every
statement each proposed index helps, then the verdict in total (:mod:`.ranking`).

1. ``plan``: the statement's generic plan cost, and the hypothetical index that makes
   it cheapest if one cuts it by ``min_saving_ratio`` (dexter's rule, per statement);
2. ``cross_check``: each proposed index planned against the other statements on its
   table, so that a suggestion lists every statement it helps, not only the one
   that proposed it;
3. ``suggestions``: the proposals whose estimated time saved per hour, summed over
   the statements they help, reaches ``min_seconds_saved_per_hour``; most saved first.

Every hypothetical plan checks the run's deadline first: what is not planned in
time is counted under ``skipped["run_time_budget"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg

from .classify import Table
from .plans import Shape, shape
from .ranking import Candidate, Helped, helps, weighted_saving_ratio, worth_it
from .suggestions import IndexSuggestion
from .whatif import TableInfo, best_index, generic_plan, hypothetical_cost

Key = tuple[str, str, tuple[str, ...]]  # schema, table, columns


@dataclass
class _Planned:
    text: str
    before: float
    ms_per_hour: float
    tables: dict[Table, TableInfo]


class Planner:
    def __init__(self, conn: psycopg.Connection[Any], hypopg: str | None,
                 min_saving_ratio: float, skipped: dict[str, int], deadline: float):
        self.conn = conn
        self.hypopg = hypopg or ""
        self.min_saving_ratio = min_saving_ratio
        self.skipped = skipped
        self.deadline = deadline
        self.evaluated = 0
        self.planned: dict[int, _Planned] = {}
        self.proposals: dict[Key, tuple[TableInfo, dict[int, Helped]]] = {}
        # queryid → (its generic plan's shape, the large tables it reads): plans.fold
        self.shapes: dict[int, tuple[Shape, set[str]]] = {}

    def generic_cost(self, queryid: int, text: str, tables: dict[Table, TableInfo],
                     large_rows: int) -> float | None:
        """The generic plan's cost; its shape is kept for plan-change detection."""
        plan = generic_plan(self.conn, text, self.skipped)
        if plan is None:
            return None
        large = {t.name for t in tables.values()
                 if max(t.reltuples or 0, t.live_rows or 0) >= large_rows}
        self.shapes[queryid] = (shape(plan), large)
        return float(plan["Total Cost"])

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def plan(self, candidate: Candidate, ms_per_hour: float, text: str,
             tables: dict[Table, TableInfo], by_table: dict[Table, list[str]],
             large_rows: int) -> None:
        self.evaluated += 1
        before = self.generic_cost(candidate.queryid, text, tables, large_rows)
        if before is None or before <= 0:
            return
        self.planned[candidate.queryid] = _Planned(text, before, ms_per_hour, tables)
        found = best_index(self.conn, self.hypopg, text, before, tables, by_table,
                           self.min_saving_ratio, self.skipped, self.deadline)
        if found is None:
            return
        info, columns, after = found
        _, helped = self.proposals.setdefault((info.schema, info.name, columns), (info, {}))
        helped[candidate.queryid] = Helped(candidate.queryid, 1.0 - after / before,
                                           ms_per_hour, before, after)

    def cross_check(self) -> None:
        for (_, _, columns), (info, helped) in self.proposals.items():
            for queryid, planned in self.planned.items():
                if queryid in helped or not any(t.oid == info.oid
                                                for t in planned.tables.values()):
                    continue
                if time.monotonic() > self.deadline:
                    self._skip("run_time_budget")
                    return
                after = hypothetical_cost(self.conn, self.hypopg, planned.text, info, columns,
                                          self.skipped)
                if after is not None and helps(planned.before, after, self.min_saving_ratio):
                    helped[queryid] = Helped(queryid, 1.0 - after / planned.before,
                                             planned.ms_per_hour, planned.before, after)

    def suggestions(self, min_seconds_saved_per_hour: float) -> list[IndexSuggestion]:
        out = []
        for (schema, table, columns), (_, by_query) in self.proposals.items():
            helped = sorted(by_query.values(), key=lambda h: (-h.saved_ms_per_hour, h.queryid))
            if not worth_it(helped, min_seconds_saved_per_hour):
                self._skip("below_min_seconds_saved_per_hour")
                continue
            top = max(helped, key=lambda h: h.saving_ratio)
            out.append(IndexSuggestion(
                schema, table, columns, "hypopg", tuple(h.queryid for h in helped),
                weighted_saving_ratio(helped), round(top.cost_before, 2),
                round(top.cost_after, 2), tuple(helped)))
        out.sort(key=lambda s: (-(s.seconds_saved_per_hour or 0), s.table, s.columns))
        return out
