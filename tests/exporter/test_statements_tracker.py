"""The monotonic accumulator, driven by a model of pg_stat_statements (no database).

The model executes statements, evicts entries (pg_stat_statements.max), resets one
entry or everything (pg_stat_statements_reset), and the tracker reads it after
every step, as a collection would.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.statements.tracker import StatementTracker

DOMAIN = {q: ("guest_list", "payment", "other")[q % 3] for q in range(40)}

ops = st.lists(st.one_of(
    st.tuples(st.just("run"), st.integers(0, 39), st.integers(1, 50), st.floats(0.01, 500)),
    st.tuples(st.just("evict"), st.integers(0, 39), st.just(0), st.just(0.0)),
    st.tuples(st.just("reset_entry"), st.integers(0, 39), st.just(0), st.just(0.0)),
    st.tuples(st.just("reset_all"), st.just(0), st.just(0), st.just(0.0)),
), min_size=1, max_size=120)


def exported(tracker: StatementTracker) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], float] = {}
    for domain, totals in tracker.domains.items():
        values[("calls", domain)] = totals.calls
        values[("seconds", domain)] = totals.seconds
        values[("rows", domain)] = totals.rows
    for queryid in tracker.tracked:
        values[("statement_calls", str(queryid))] = tracker.series[queryid].calls
        values[("statement_seconds", str(queryid))] = tracker.series[queryid].seconds
    values[("statement_calls", "other")] = tracker.other.calls
    values[("statement_seconds", "other")] = tracker.other.seconds
    return values


@settings(max_examples=300, deadline=None)
@given(steps=ops, top_n=st.integers(1, 8))
def test_counters_never_decrease_and_count_every_call(steps: list[tuple[str, int, int, float]],
                                                      top_n: int) -> None:
    tracker = StatementTracker(top_n, retain=1000)
    view: dict[int, list[float]] = {}  # queryid -> [calls, total_ms, rows]
    stats_reset = 1.0
    executed_calls = 0.0
    previous = exported(tracker)
    for op, queryid, calls, ms in steps:
        if op == "run":
            entry = view.setdefault(queryid, [0, 0.0, 0])
            entry[0] += calls
            entry[1] += ms
            entry[2] += calls * 2
            executed_calls += calls
        elif op == "evict":
            view.pop(queryid, None)
        elif op == "reset_entry" and queryid in view:
            view[queryid] = [0, 0.0, 0]
        elif op == "reset_all":
            view.clear()
            stats_reset += 1
        rows = [(q, 5, 10, int(c), t, int(r)) for q, (c, t, r) in view.items()]
        tracker.update(rows, DOMAIN, stats_reset)
        now = exported(tracker)
        for key, value in now.items():
            if key in previous:
                assert value >= previous[key] - 1e-9, (key, previous[key], value)
        assert len(tracker.tracked) <= top_n
        previous = now
    # observed after every step, nothing is lost: domain totals count every execution
    total_calls = sum(t.calls for t in tracker.domains.values())
    assert abs(total_calls - executed_calls) < 1e-6
    # and every delta went to exactly one statement series (tracked, retired or other)
    series_calls = sum(t.calls for t in tracker.series.values()) + tracker.other.calls
    assert abs(series_calls - total_calls) < 1e-6


def test_unclassified_entries_are_held_back_then_counted_in_full() -> None:
    tracker = StatementTracker(5)
    rows = [(1, 5, 10, 10, 100.0, 10), (2, 5, 10, 4, 8.0, 4)]
    held = tracker.update(rows, {1: "guest_list"}, 1.0)
    assert held.unclassified == {2}
    assert tracker.domains["guest_list"].calls == 10
    assert tracker.domains["payment"].calls == 0
    rows = [(1, 5, 10, 12, 120.0, 12), (2, 5, 10, 6, 12.0, 6)]
    tracker.update(rows, {1: "guest_list", 2: "payment"}, 1.0)
    assert tracker.domains["guest_list"].calls == 12
    assert tracker.domains["payment"].calls == 6  # everything since the entry appeared


def test_a_statement_leaving_the_top_n_keeps_its_value_and_the_rest_goes_to_other() -> None:
    tracker = StatementTracker(1)
    tracker.update([(1, 5, 10, 10, 100.0, 0), (2, 5, 10, 1, 1.0, 0)], DOMAIN, 1.0)
    assert tracker.tracked == [1]
    assert tracker.series[1].calls == 10 and tracker.other.calls == 1
    # statement 2 overtakes statement 1: 1 is retired with its value, 2 starts from here
    tracker.update([(1, 5, 10, 11, 101.0, 0), (2, 5, 10, 50, 500.0, 0)], DOMAIN, 1.0)
    assert tracker.tracked == [2]
    assert tracker.series[2].calls == 49
    assert tracker.other.calls == 1 + 1
    assert tracker.series[1].calls == 10
    # back on top later: it continues from its retained value, never below it
    tracker.update([(1, 5, 10, 200, 900.0, 0), (2, 5, 10, 50, 500.0, 0)], DOMAIN, 1.0)
    assert tracker.tracked == [1]
    assert tracker.series[1].calls == 10 + 189


def test_regression_against_the_statements_own_earlier_mean() -> None:
    tracker = StatementTracker(5, regression_min_calls=10)
    calls, ms = 0, 0.0
    for _ in range(4):
        calls, ms = calls + 10, ms + 10 * 2.0  # 2 ms per call
        tracker.watch(tracker.update([(7, 5, 10, calls, ms, calls)], DOMAIN, 1.0).by_queryid)
    assert tracker.regression(7, 2.0, 1.0) is None
    calls, ms = calls + 10, ms + 10 * 9.0  # now 9 ms per call
    tracker.watch(tracker.update([(7, 5, 10, calls, ms, calls)], DOMAIN, 1.0).by_queryid)
    found = tracker.regression(7, 2.0, 1.0)
    assert found is not None
    recent, earlier = found
    assert abs(recent - 9.0) < 1e-6 and abs(earlier - 2.0) < 1e-6


class Recording(dict[int, str]):
    """A queryid → domain map that records which queryids were looked up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: list[int] = []

    def get(self, key: int, default: Any = None) -> Any:
        self.asked.append(key)
        return super().get(key, default)


def test_rows_whose_counters_did_not_change_are_skipped_before_anything_else() -> None:
    tracker = StatementTracker(2)
    domains = Recording({1: "guest_list", 2: "payment", 3: "other"})
    rows = [(1, 5, 10, 3, 30.0, 3), (2, 5, 10, 1, 5.0, 1), (3, 5, 10, 9, 1.0, 9)]
    tracker.update(rows, domains, 1.0)
    assert sorted(domains.asked) == [1, 2, 3]
    domains.asked.clear()
    changed = [rows[0], (2, 5, 10, 2, 7.5, 2), rows[2]]
    deltas = tracker.update(changed, domains, 1.0)
    assert domains.asked == [2]  # the unchanged rows: no lookup, no arithmetic
    assert deltas.by_queryid == {2: (1, 0.0025)}
    assert tracker.tracked == [1, 2]  # the top N still ranks every entry by total time
    assert tracker.domains["payment"].calls == 2 and tracker.domains["guest_list"].calls == 3
    deltas = tracker.update(changed, domains, 1.0)
    assert deltas.by_queryid == {} and tracker.entries == 3
    tracker.update(changed[:2], domains, 1.0)  # entry 3 evicted: forgotten, nothing lost
    assert tracker.domains["other"].calls == 9
    assert (3, 5, 10) not in tracker.last
