"""Reading the slow collectors ahead of the collection (exporter.prefetch): when, what
is served, what never is (pure: plain values, real threads, no database)."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from exporter.collectors.base import CollectContext, Collected
from exporter.errors import DatabaseUnavailable
from exporter.prefetch import MAX_PERIOD_SECONDS, Prefetcher, next_due
from exporter.scrape import Scraper
from exporter.statements.settings import StatementsSettings
from tests.exporter.test_scrape_concurrency import FakeDatabase, FakeSession, Probe


# -- when -------------------------------------------------------------------------------------
def test_the_read_is_due_lead_seconds_before_the_median_period() -> None:
    assert next_due([100.0, 110.0, 120.0], lead=1.0) == 129.0
    # One late scrape does not move the rhythm: the median of the intervals.
    assert next_due([100.0, 110.0, 125.0, 135.0], lead=1.0) == 144.0


@pytest.mark.parametrize("starts", [[], [5.0], [5.0, 15.0],  # not enough to see a period
                                    [0.0, MAX_PERIOD_SECONDS + 1, 2 * MAX_PERIOD_SECONDS + 2]])
def test_no_period_no_read_ahead(starts: list[float]) -> None:
    assert next_due(starts, lead=1.0) is None


def test_a_lead_longer_than_the_period_reads_right_away() -> None:
    assert next_due([0.0, 0.2, 0.4], lead=1.0) == 0.4


# -- what is served ---------------------------------------------------------------------------
class Reads:
    """A read that says when it started and can be held until released."""

    def __init__(self, seconds: float = 0.0, result: str = "reading"):
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.seconds = seconds
        self.result = result
        self.count = 0

    def __call__(self, budget: float) -> str:
        self.count += 1
        self.started.set()
        self.release.wait(10)
        time.sleep(self.seconds)  # the read itself taking time, not synchronisation
        return self.result


def three_collections(prefetcher: Prefetcher[str], period: float = 0.1) -> None:
    """Three collections ``period`` apart, the last one now: a rhythm to predict."""
    now = time.monotonic()
    for started in (now - 2 * period, now - period, now):
        prefetcher.plan(started, 5.0)


def planned(reads: Reads, *, max_age: float = 5.0, usable: bool = True) -> Prefetcher[str]:
    prefetcher = Prefetcher(reads, lambda result: usable, lead=30.0, max_age=max_age)
    three_collections(prefetcher)  # a lead beyond the period: read right away
    assert reads.started.wait(10)
    return prefetcher


def test_a_reading_taken_ahead_is_served_once() -> None:
    reads = Reads()
    prefetcher = planned(reads)
    try:
        assert prefetcher.take(time.monotonic() + 5) == ("reading", True)
        assert prefetcher.take(time.monotonic() + 5) == (None, True)  # the caller reads itself
        assert reads.count == 1
    finally:
        prefetcher.close()


def test_a_reading_still_running_is_waited_for_not_doubled() -> None:
    reads = Reads()
    reads.release.clear()
    prefetcher = planned(reads)
    try:
        threading.Timer(0.05, reads.release.set).start()
        assert prefetcher.take(time.monotonic() + 5) == ("reading", True)
    finally:
        reads.release.set()
        prefetcher.close()


def test_a_read_already_due_is_waited_for_even_before_its_thread_picked_it_up() -> None:
    reads = Reads()
    prefetcher = Prefetcher(reads, lambda result: True, lead=30.0, max_age=5.0)
    try:
        for _ in range(20):  # back to back, each collection right after the plan
            three_collections(prefetcher)
            assert prefetcher.take(time.monotonic() + 5) == ("reading", True)
    finally:
        prefetcher.close()


def test_a_collection_earlier_than_planned_cancels_the_read_and_reads_itself() -> None:
    reads = Reads()
    prefetcher = Prefetcher(reads, lambda result: True, lead=1.0, max_age=5.0)
    try:
        three_collections(prefetcher, period=100)  # the next read is due in 99 s
        assert prefetcher.take(time.monotonic() + 5) == (None, True)
        assert reads.count == 0
    finally:
        prefetcher.close()


def test_past_the_deadline_the_caller_may_not_read_beside_the_running_one() -> None:
    reads = Reads()
    reads.release.clear()
    prefetcher = planned(reads)
    try:
        assert prefetcher.take(time.monotonic() + 0.05) == (None, False)
    finally:
        reads.release.set()
        prefetcher.close()


def test_too_old_or_failed_readings_are_never_served() -> None:
    old = planned(Reads(seconds=0.05), max_age=0.01)  # older than max_age when it is done
    failed = planned(Reads(), usable=False)
    try:
        assert old.take(time.monotonic() + 5) == (None, True)
        assert failed.take(time.monotonic() + 5) == (None, True)
    finally:
        old.close()
        failed.close()


def test_a_read_that_raises_leaves_the_collection_to_read_itself() -> None:
    def broken(budget: float) -> str:
        raise RuntimeError("boom")

    prefetcher: Prefetcher[str] = Prefetcher(broken, lambda r: True, lead=30.0, max_age=5.0)
    try:
        three_collections(prefetcher)
        assert prefetcher.take(time.monotonic() + 5)[0] is None
    finally:
        prefetcher.close()


@pytest.mark.parametrize("key, value", [("prefetch_seconds", -1), ("prefetch_seconds", 1e9),
                                        ("prefetch_max_age_seconds", -0.5),
                                        ("prefetch_max_age_seconds", float("inf")),
                                        ("prefetch_seconds", "soon")])
def test_settings_refuse_out_of_range_or_malformed_values_naming_the_key(key: str,
                                                                        value: object) -> None:
    with pytest.raises(ValidationError, match=key):
        StatementsSettings(**{key: value})


def test_settings_refuse_a_max_age_no_reading_could_meet() -> None:
    with pytest.raises(ValueError, match="prefetch_max_age_seconds"):
        StatementsSettings(prefetch_seconds=2.0, prefetch_max_age_seconds=1.0)
    assert StatementsSettings(prefetch_seconds=0, prefetch_max_age_seconds=0).prefetch_seconds == 0


# -- in the scraper -----------------------------------------------------------------------------
class SignallingProbe(Probe):
    """The own-connection collector; says in which thread it last ran."""

    own_connection: ClassVar[bool] = True

    def __init__(self, name: str):
        super().__init__(name)
        self.ran_ahead = threading.Event()

    def collect(self, ctx: CollectContext) -> Collected:
        produced = super().collect(ctx)
        if threading.current_thread().name == "dbhealth-prefetch":
            self.ran_ahead.set()
        return produced


class DownAfter(FakeDatabase):
    """Answers until ``down`` is set, then every statement fails as a dead server's would."""

    def __init__(self) -> None:
        super().__init__(pool_size=5)
        self.down = False

    def session(self, deadline: float) -> Any:
        if self.down:
            return self._dead()
        return super().session(deadline)

    def _dead(self) -> Any:
        database = self

        class Dead:
            def __enter__(self) -> FakeSession:
                session = FakeSession(len(database.sessions))
                database.sessions.append(session)

                def refuse(sql: str, params: Any) -> list[tuple[Any, ...]]:
                    raise DatabaseUnavailable("database unavailable: connection refused")

                session.query = refuse  # type: ignore[method-assign]
                session.query_binary = refuse  # type: ignore[method-assign]
                return session

            def __exit__(self, *exc: object) -> None:
                return None

        return Dead()


def rhythm(database: FakeDatabase) -> tuple[Scraper, SignallingProbe]:
    """A scraper whose fourth collection finds the statements read ahead."""
    statements = SignallingProbe("statements")
    scraper = Scraper(database, [Probe("a"), statements, Probe("b")],  # type: ignore[arg-type, list-item]  # fakes
                      prefetch_lead=30.0, prefetch_max_age=5.0)
    for _ in range(3):
        scraper.collect(time.monotonic() + 5)
    assert statements.ran_ahead.wait(10)
    return scraper, statements


def test_the_collection_serves_the_reading_ahead_and_reads_only_the_rest() -> None:
    database = FakeDatabase(pool_size=5)
    scraper, _ = rhythm(database)
    try:
        opened = len(database.sessions)
        snapshot = scraper.collect(time.monotonic() + 5)
        assert len(database.sessions) == opened + 1  # the rest's session only
        assert snapshot.up and all(check.success for check in snapshot.checks.values())
        ages = {line.split('"')[1]: float(line.split()[-1]) for line in snapshot.exposition
                .splitlines() if line.startswith("dbhealth_collector_age_seconds{")}
        assert ages["a"] == 0.0 and ages["b"] == 0.0
        assert 0.0 < ages["statements"] < 5.0
        names = [line.split()[2] for line in snapshot.exposition.splitlines()
                 if line.startswith("# TYPE probe_")]
        assert names == ["probe_a", "probe_statements", "probe_b"]
    finally:
        scraper.close()


def test_a_database_gone_since_the_reading_ahead_is_down_for_every_collector() -> None:
    database = DownAfter()
    scraper, _ = rhythm(database)
    try:
        database.down = True
        snapshot = scraper.collect(time.monotonic() + 5)
        assert not snapshot.up
        assert not snapshot.checks["statements"].success
        assert "unavailable" in (snapshot.checks["statements"].error or "")
        assert "probe_statements" not in snapshot.exposition
    finally:
        scraper.close()


def test_without_a_lead_everything_is_read_during_the_collection() -> None:
    database = FakeDatabase(pool_size=5)
    statements = SignallingProbe("statements")
    scraper = Scraper(database, [Probe("a"), statements])  # type: ignore[arg-type, list-item]  # fakes
    try:
        for _ in range(4):
            scraper.collect(time.monotonic() + 5)
        assert not statements.ran_ahead.is_set() and len(database.sessions) == 8
    finally:
        scraper.close()
