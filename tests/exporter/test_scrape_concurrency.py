"""The statements collector beside the others: two sessions, one answer in the configured order (pure)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from prometheus_client.core import GaugeMetricFamily

from exporter.collectors.base import CollectContext, Collected
from exporter.scrape import Scraper


@dataclass
class FakeSession:
    number: int
    statements: int = 0
    answered: bool = False
    threads: set[str] = field(default_factory=set)

    def query(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        self.statements += 1
        self.answered = True
        self.threads.add(threading.current_thread().name)
        return [(self.number,)]

    query_binary = query


class FakeDatabase:
    def __init__(self, pool_size: int):
        self.settings = type("S", (), {"pool_size": pool_size})()
        self.sessions: list[FakeSession] = []

    @contextmanager
    def session(self, deadline: float) -> Iterator[FakeSession]:
        session = FakeSession(len(self.sessions))
        self.sessions.append(session)
        yield session


class Probe:
    """Runs one statement and says which session answered it."""

    own_connection: ClassVar[bool] = False

    def __init__(self, name: str, seconds: float = 0.0):
        self.name = name
        self.seconds = seconds

    def collect(self, ctx: CollectContext) -> Collected:
        (session,), = ctx.query("SELECT 1", None)
        time.sleep(self.seconds)
        return Collected([GaugeMetricFamily(f"probe_{self.name}", "which session",
                                            value=float(session))])


class SlowProbe(Probe):
    own_connection: ClassVar[bool] = True


def collect(pool_size: int) -> tuple[str, FakeDatabase, Any]:
    database = FakeDatabase(pool_size)
    probes = [Probe("a"), SlowProbe("statements", 0.05), Probe("b"), Probe("c")]
    scraper = Scraper(database, probes)  # type: ignore[arg-type]
    try:
        snapshot = scraper.collect(time.monotonic() + 5)
    finally:
        scraper.close()
    return snapshot.exposition, database, snapshot


def test_the_slow_collector_runs_beside_the_rest_and_the_order_stays() -> None:
    text, database, snapshot = collect(pool_size=5)
    assert len(database.sessions) == 2
    own, rest = sorted(database.sessions, key=lambda s: s.statements)
    assert own.statements == 1 and rest.statements == 3
    assert own.threads == {threading.current_thread().name}   # the slow one in the caller
    assert rest.threads and rest.threads != own.threads
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE probe_")]
    assert names == ["probe_a", "probe_statements", "probe_b", "probe_c"]
    assert snapshot.statements == 4 and snapshot.up
    assert all(check.success for check in snapshot.checks.values())


@pytest.mark.parametrize("pool_size", [1, 2])
def test_a_small_pool_runs_everything_on_one_session(pool_size: int) -> None:
    text, database, snapshot = collect(pool_size)
    assert len(database.sessions) == 1 and database.sessions[0].statements == 4
    assert f"probe_statements {0.0}" in text and snapshot.statements == 4


def test_a_rest_still_running_past_the_deadline_is_reported_and_the_next_collection_waits() -> None:
    database = FakeDatabase(pool_size=5)
    stuck = Probe("stuck", seconds=1.5)  # the grace after the deadline is 1 s
    scraper = Scraper(database, [stuck, SlowProbe("statements")])  # type: ignore[arg-type, list-item]  # fakes
    try:
        late = scraper.collect(time.monotonic() + 0.1)
        assert not late.checks["stuck"].success and "deadline" in (late.checks["stuck"].error or "")
        assert late.checks["statements"].success and "probe_statements" in late.exposition
        assert "probe_stuck" not in late.exposition
        # The next collection's rest queues behind the one still running: never two at once.
        again = scraper.collect(time.monotonic() + 5)
        assert again.checks["stuck"].success and "probe_stuck" in again.exposition
    finally:
        scraper.close()
