"""The advisor's pure decisions: which statements it plans, per-hour rates, the verdict in total."""

from __future__ import annotations

from exporter.statements.ranking import (
    Candidate,
    Helped,
    choose,
    helps,
    ms_per_hour,
    weighted_saving_ratio,
    worth_it,
)


def _ids(rows: list[Candidate]) -> list[int]:
    return [c.queryid for c in rows]


def test_candidates_are_the_top_by_total_time_plus_slow_and_large_scans() -> None:
    rows = [
        Candidate(1, calls=10_000, total_ms=50_000, blocks_per_call=3),  # busy, fast: top total
        Candidate(2, calls=2, total_ms=3_000, blocks_per_call=10),  # slow on its own
        Candidate(3, calls=100, total_ms=1_500, blocks_per_call=1_200),  # scans a large table
        Candidate(4, calls=50, total_ms=40_000, blocks_per_call=4),  # second by total time
        Candidate(5, calls=5_000, total_ms=500, blocks_per_call=1),  # none of these
    ]
    chosen = choose(rows, limit=2, threshold_ms=500, large_scan_blocks=1000)
    assert _ids(chosen) == [1, 4, 2, 3]  # most total time first


def test_candidates_are_capped_at_twice_the_limit() -> None:
    rows = [Candidate(i, calls=1, total_ms=1000.0 + i, blocks_per_call=0) for i in range(10)]
    assert _ids(choose(rows, limit=3, threshold_ms=100, large_scan_blocks=1000)) \
        == [9, 8, 7, 6, 5, 4]


def test_a_statement_never_called_is_never_slow() -> None:
    assert Candidate(1, calls=0, total_ms=0, blocks_per_call=0).mean_ms == 0.0
    assert choose([Candidate(1, 0, 0, 0)], limit=0, threshold_ms=1, large_scan_blocks=1) == []


def test_rate_since_the_last_run_wins_over_the_average_since_reset() -> None:
    # 60 s since the last run, 600 ms more: 36 s per hour, whatever came before
    assert ms_per_hour(10_600, since_reset_seconds=86_400, previous=(100.0, 10_000),
                       now=160.0) == 36_000
    # first run: the average since pg_stat_statements was reset (a day here)
    assert ms_per_hour(86_400, since_reset_seconds=86_400, previous=None, now=0) == 3_600


def test_rate_after_a_reset_or_on_a_short_window_is_not_inflated() -> None:
    # counters went down (a reset): back to the window since reset, at least a minute
    assert ms_per_hour(100, since_reset_seconds=5, previous=(0.0, 9_000), now=10) == 6_000
    assert ms_per_hour(100, since_reset_seconds=None, previous=None, now=0) == 6_000
    assert ms_per_hour(100, since_reset_seconds=30, previous=(0.0, 0.0), now=6) == 6_000


def test_per_statement_an_index_must_halve_the_cost() -> None:
    assert helps(100.0, 50.0, 0.5)
    assert not helps(100.0, 50.1, 0.5)
    assert not helps(None, 1.0, 0.5) and not helps(100.0, None, 0.5) and not helps(0.0, 0, 0.5)


def test_in_total_the_saving_is_weighted_by_time_and_must_reach_the_bar() -> None:
    busy = Helped(1, saving_ratio=0.9, ms_per_hour=10_000, cost_before=100, cost_after=10)
    rare = Helped(2, saving_ratio=0.5, ms_per_hour=0, cost_before=100, cost_after=50)
    assert busy.saved_ms_per_hour == 9_000
    assert weighted_saving_ratio([busy, rare]) == 0.9  # the rare one spent no time
    assert weighted_saving_ratio([rare]) == 0.5  # no time at all: the best ratio
    assert weighted_saving_ratio([]) is None
    assert worth_it([busy, rare], min_seconds_saved_per_hour=9.0)
    assert not worth_it([busy, rare], min_seconds_saved_per_hour=9.1)
    assert not worth_it([], min_seconds_saved_per_hour=0)
