"""Generic plan shapes of the top statements, and when they change for the worse (pure).

The advisor plans its candidates (the top statements by total time) on every run.
The shape kept per statement is how each table is read: ``index`` (Index Scan,
Index Only Scan, Bitmap Heap Scan) or ``seq`` (Seq Scan, parallel or not). A
statement whose plan read a large table through an index and now scans it
sequentially has regressed: reported until its plan reads that table through an
index again (an index dropped or invalid, statistics gone stale, a parameter type
changed). The baseline per table is the best access seen so far in this process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

INDEX_NODES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Heap Scan"})
SEQ_NODES = frozenset({"Seq Scan"})

Shape = dict[str, str]  # table (as the plan names it) → "index" | "seq"


@dataclass(frozen=True)
class PlanChange:
    queryid: int
    table: str
    before: str  # "index"
    after: str  # "seq"

    def as_dict(self) -> dict[str, object]:
        return {"queryid": str(self.queryid), "table": self.table, "before": self.before,
                "after": self.after, "finding": "plan_regression"}


def _nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [plan]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(n for n in node.get("Plans", []) if isinstance(n, dict))


def shape(plan: Mapping[str, Any]) -> Shape:
    """How the plan reads each table; ``index`` wins when both appear."""
    out: Shape = {}
    for node in _nodes(plan):
        table = node.get("Relation Name")
        kind = node.get("Node Type")
        if not isinstance(table, str):
            continue
        if kind in INDEX_NODES:
            out[table] = "index"
        elif kind in SEQ_NODES:
            out.setdefault(table, "seq")
    return out


def fold(baseline: Shape | None, current: Shape, large: set[str]) -> tuple[Shape, list[str]]:
    """(new baseline, large tables read by index before and sequentially now)."""
    base = dict(baseline or {})
    regressed = sorted(t for t, access in current.items()
                       if access == "seq" and base.get(t) == "index" and t in large)
    for table, access in current.items():
        if access == "index" or table not in base:
            base[table] = access
    return base, regressed
