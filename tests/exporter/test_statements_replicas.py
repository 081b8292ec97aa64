"""Several exporter replicas share the statement counters through Redis."""

from __future__ import annotations

from collections import OrderedDict

import psycopg
import pytest

from exporter.statements.shared import dump, load
from exporter.statements.tracker import StatementTracker, Totals

from ..support.redis_server import RedisServer
from ..support.statements import (
    ONLY_STATEMENTS,
    assert_never_decreased,
    collect,
    collect_settled,
    counters,
    direct_scraper,
    domain_calls,
    settings_for,
)


def _guests(dsn: str, times: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(times):
            conn.execute("SELECT * FROM guests WHERE email = %s", [f"guest{i}@example.com"])


def test_state_round_trip() -> None:
    tracker = StatementTracker(3)
    tracker.update([(1, 5, 10, 7, 70.0, 7), (None, 5, 11, 2, 3.0, 1), (-9, 5, 10, 1, 1.5, 0)],
                   {1: "guest_list", -9: "payment"}, 1234.5)
    tracker.read_at, tracker.generation = 99.5, 4
    copy = StatementTracker(3)
    load(dump(tracker), copy)
    assert copy.last == tracker.last and copy.generation == 4 and copy.read_at == 99.5
    assert copy.stats_reset == 1234.5 and copy.tracked == tracker.tracked
    assert copy.domains == tracker.domains and copy.other == Totals(tracker.other.calls,
                                                                   tracker.other.seconds, 0.0)
    assert copy.series == OrderedDict((q, Totals(t.calls, t.seconds, 0.0))
                                      for q, t in tracker.series.items())
    with pytest.raises(ValueError):
        load(b"pickle?", copy)


def test_replicas_serve_one_monotonic_history(tracker_dsn: str, redis_server: RedisServer) -> None:
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS,
                            redis={"url": redis_server.url, "key_prefix": "replicas-test"},
                            statements={"text_fetch_interval_seconds": 0})
    history = []
    with direct_scraper(settings) as first:
        collect(first)
        _guests(tracker_dsn, 10)
        _, samples = collect_settled(first)
        history.append(counters(samples))
        assert domain_calls(samples)["guest_list"] == 10
        # the view forgets (reset; evictions do the same): only the first replica saw those 10
        with psycopg.connect(tracker_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
                         "WHERE datname = current_database()), 0)")
        _, samples = collect(first)
        history.append(counters(samples))
        _guests(tracker_dsn, 5)
        # a replica started later, collecting in turn with the first one
        with direct_scraper(settings) as second:
            # it classifies in the background first; meanwhile it holds the entries back
            history.append(counters(collect_settled(second)[1]))
            for scraper in (second, second, first, second, first, first, second):
                _guests(tracker_dsn, 1)
                _, samples = collect(scraper)
                history.append(counters(samples))
    assert_never_decreased(history)
    # one history, every call counted once, whichever replica served it
    assert domain_calls(samples)["guest_list"] == 10 + 5 + 7


def test_redis_down_falls_back_to_in_process_counters(tracker_dsn: str) -> None:
    redis = RedisServer()
    redis.start()
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS,
                            redis={"url": redis.url, "retry_after_seconds": 0},
                            statements={"text_fetch_interval_seconds": 0})
    history = []
    try:
        with direct_scraper(settings) as scraper:
            collect(scraper)
            _guests(tracker_dsn, 4)
            _, samples = collect_settled(scraper)
            history.append(counters(samples))
            redis.stop()
            _guests(tracker_dsn, 3)
            snapshot, samples = collect(scraper)
            history.append(counters(samples))
            assert snapshot.checks["statements"].success
    finally:
        redis.stop()
    assert_never_decreased(history)
    assert domain_calls(samples)["guest_list"] == 7
