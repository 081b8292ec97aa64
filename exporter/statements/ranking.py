"""Which statements the index advisor plans, and what a suggestion is worth: pure decisions.

Tools users trust (dexter, pganalyze) do not wait for a statement to be slow on
its own: a 200 ms lookup called every second costs more than a 2 s report run
twice a day. So the candidates are, in order of total execution time:

- the top ``limit`` statements by total time,
- every statement whose mean time reaches the slow threshold,
- every statement that reads at least ``large_scan_blocks`` shared blocks per
  call: it scans a large table (pg_stat_statements does not name the table,
  the blocks it touched give it away);

capped at ``2 * limit`` so that a run stays bounded however the load looks.

A suggestion is judged per statement (each statement it helps must get
``min_saving_ratio`` cheaper, dexter's rule) and in total (the estimated time it
saves across those statements must reach ``min_seconds_saved_per_hour``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Shortest window a per-hour rate is extrapolated from: a statement seen for ten
# seconds after a restart is not extrapolated 360-fold.
MIN_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Candidate:
    queryid: int
    calls: float
    total_ms: float
    blocks_per_call: float

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class Helped:
    """One statement a suggested index helps, with its estimated saving."""
    queryid: int
    saving_ratio: float  # 1 - cost_after / cost_before of this statement's generic plan
    ms_per_hour: float  # the statement's execution time per hour now
    cost_before: float
    cost_after: float

    @property
    def saved_ms_per_hour(self) -> float:
        return self.ms_per_hour * self.saving_ratio


def choose(rows: Iterable[Candidate], *, limit: int, threshold_ms: float,
           large_scan_blocks: float) -> list[Candidate]:
    """The statements to plan, most total time first (see the module docstring)."""
    ordered = sorted(rows, key=lambda c: (-c.total_ms, c.queryid))
    chosen = [c for rank, c in enumerate(ordered)
              if rank < limit or c.mean_ms >= threshold_ms
              or c.blocks_per_call >= large_scan_blocks]
    return chosen[: 2 * limit]


def ms_per_hour(total_ms: float, *, since_reset_seconds: float | None,
                previous: tuple[float, float] | None, now: float) -> float:
    """Execution time per hour of one statement.

    ``previous`` is (when, total_ms) from the advisor's last run: the rate over
    that interval is the current one. Without it (first run, or the counters
    went down: a reset), the average since pg_stat_statements was last reset.
    """
    if previous is not None:
        when, earlier = previous
        elapsed = now - when
        if elapsed > 0 and total_ms >= earlier:
            return (total_ms - earlier) * 3600.0 / max(elapsed, MIN_WINDOW_SECONDS)
    window = max(since_reset_seconds or 0.0, MIN_WINDOW_SECONDS)
    return total_ms * 3600.0 / window


def helps(cost_before: float | None, cost_after: float | None, min_saving_ratio: float) -> bool:
    """Per statement: the index cuts the estimated cost of its generic plan enough."""
    if cost_before is None or cost_after is None or cost_before <= 0:
        return False
    return cost_after <= cost_before * (1.0 - min_saving_ratio)


def saved_ms_per_hour(helped: Iterable[Helped]) -> float:
    return sum(h.saved_ms_per_hour for h in helped)


def weighted_saving_ratio(helped: Iterable[Helped]) -> float | None:
    """In total: the share of the helped statements' time the index saves (time-weighted)."""
    items = list(helped)
    spent = sum(h.ms_per_hour for h in items)
    if spent > 0:
        return saved_ms_per_hour(items) / spent
    return max((h.saving_ratio for h in items), default=None)


def worth_it(helped: Iterable[Helped], min_seconds_saved_per_hour: float) -> bool:
    """In total: the estimated time saved across the statements reaches the bar."""
    items = list(helped)
    return bool(items) and saved_ms_per_hour(items) >= min_seconds_saved_per_hour * 1000.0
