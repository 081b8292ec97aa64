"""Each collector fed plain rows (NULLs, edge rows) through ``ctx.query``: no PostgreSQL needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter.collectors.activity import ActivityCollector
from exporter.collectors.archiver import ArchiverCollector
from exporter.collectors.base import CollectContext, Collected
from exporter.collectors.database import SIZE_REFRESH_SECONDS, DatabaseCollector
from exporter.collectors.replication import ReplicationCollector
from exporter.collectors.tables import TablesCollector
from exporter.errors import DatabaseUnavailable, PrivilegeMissing
from exporter.snapshot import render
from exporter.statements.collector import StatementsCollector, StatementsUnavailable
from exporter.statements.settings import StatementsSettings
from exporter.wedding.collector import WeddingCollector
from exporter.wedding.settings import WeddingSettings

from ..support.polling import wait_until
from ..support.scrape import Samples

Row = tuple[Any, ...]
LONDON = ZoneInfo("Europe/London")


class FakeDatabase:
    """Answers each statement with the next batch of rows, and records what was asked."""

    def __init__(self, *answers: list[Row] | Exception):
        self.answers = list(answers)
        self.asked: list[tuple[str, Any]] = []

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> list[Row]:
        self.asked.append((sql, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)


def run(collector: Any, *answers: list[Row] | Exception,
        now: float = 1.8e9) -> tuple[Collected, Samples, FakeDatabase]:
    fake = FakeDatabase(*answers)
    produced = collector.collect(CollectContext(query=fake.query, now=now))
    return produced, Samples(render(produced.families)), fake


def test_activity_counts_states_fills_gaps_and_nulls() -> None:
    produced, samples, fake = run(ActivityCollector(), [
        ("conn", "wedsync", "active", 3.0), ("conn", "wedsync", "idle in transaction", 2.0),
        ("conn", None, None, 1.0),                     # a background worker: no db, no state
        ("xact", None, "idle in transaction", 53.0), ("xact", None, "active", None),
        ("lockwait", None, None, 1.0), ("db", "wedsync", None, 0), ("db", "other", None, 0),
        ("max", None, None, 100.0), ("reserved", None, None, 3.0),
        ("privileged", None, None, 1.0)])
    assert len(fake.asked) == 1
    assert samples.value("dbhealth_connections", datname="wedsync", state="idle_in_transaction") == 2
    assert samples.value("dbhealth_connections", datname="other", state="active") == 0
    assert samples.value("dbhealth_connections", datname="", state="unknown") == 1
    assert samples.value("dbhealth_connection_utilization_ratio") == pytest.approx(6 / 97)
    assert samples.value("dbhealth_oldest_transaction_age_seconds", state="active") == 0
    assert produced.summary["dbhealth_oldest_transaction_age_seconds"] == 53.0
    assert produced.summary["dbhealth_connections_max"] == 100.0


def test_activity_without_pg_read_all_stats_fails_instead_of_under_counting() -> None:
    with pytest.raises(PrivilegeMissing):
        run(ActivityCollector(), [("conn", "wedsync", "active", 1.0), ("max", None, None, 100.0),
                                  ("privileged", None, None, 0.0)])


def test_archiver_never_archived_reads_zero() -> None:
    produced, samples, _ = run(ArchiverCollector(), [(False, 0, 0, None, None)])
    assert samples.value("dbhealth_wal_archive_enabled") == 0
    assert samples.value("dbhealth_wal_archive_last_success_timestamp_seconds") == 0
    assert samples.value("dbhealth_wal_archive_failures_total") == 0
    assert produced.summary == {"dbhealth_wal_archive_last_success_timestamp_seconds": 0.0}


def test_database_nulls_and_the_size_refresh() -> None:
    collector = DatabaseCollector()
    row = ("wedsync", 10, None, 5, None, 0, None, None, None, 2, 4096.0)
    _, samples, fake = run(collector, [row, ("nosize", 1, 1, 1, 1, 0, 0, 0, 0, 0, None)])
    assert fake.asked[0][1] == {"with_size": True}
    assert samples.value("dbhealth_transactions_total", datname="wedsync", outcome="rollback") == 0
    assert samples.value("dbhealth_database_size_bytes", datname="wedsync") == 4096
    assert samples.value("dbhealth_database_size_bytes", datname="nosize") is None
    # Within the refresh interval: no size asked for, the last one served.
    _, samples, fake = run(collector, [(*row[:10], None)], now=1.8e9 + SIZE_REFRESH_SECONDS / 2)
    assert fake.asked[0][1] == {"with_size": False}
    assert samples.value("dbhealth_database_size_bytes", datname="wedsync") == 4096


def test_replication_standby_rows_slots_and_privileges() -> None:
    produced, samples, _ = run(ReplicationCollector(), [
        ("standby", "standby1", 0.8, 16384.0), ("standby", "standby2", None, None),
        ("self", None, 0.0, 0.0), ("slot", "s1", 1.0, None), ("privileged", None, 1.0, 0)])
    assert samples.value("dbhealth_replication_lag_seconds", replica="standby2") == 0
    assert samples.value("dbhealth_replication_standbys") == 2
    assert samples.value("dbhealth_replication_slot_retained_bytes", slot="s1") == 0
    assert produced.summary == {"dbhealth_replication_is_replica": 0.0,
                                "dbhealth_replication_lag_seconds": 0.8}
    _, samples, _ = run(ReplicationCollector(), [("self", None, 1.0, 4.5),
                                                 ("privileged", None, 1.0, 0)])
    assert samples.value("dbhealth_replication_lag_seconds", replica="local") == 4.5
    with pytest.raises(PrivilegeMissing):
        run(ReplicationCollector(), [("self", None, 0.0, 0.0), ("privileged", None, 0.0, 0)])


def test_tables_locked_table_has_no_size_and_nulls_read_zero() -> None:
    collector = TablesCollector(["guests", "audit.events"])
    _, samples, fake = run(collector, [
        ("audit.events", 1, None, None, None, None, None, None, None, None, False, 8192),
        ("guests", 5, 7, 100, 3, 1, 2, 3, 1.7e9, None, True, None)])
    assert fake.asked[0][1] == {"schemas": ["public", "audit"], "names": ["guests", "events"],
                                "labels": ["guests", "audit.events"]}
    assert samples.value("dbhealth_table_index_scans_total", table="audit.events") == 0
    assert samples.value("dbhealth_table_size_bytes", table="guests") is None
    assert samples.value("dbhealth_table_locked", table="guests") == 1
    assert samples.value("dbhealth_table_last_analyze_timestamp_seconds", table="guests") == 0


def sentinel(privileged: int = 1, reset: float = 0.0, at_us: int = 1_800_000_000_000_000) -> Row:
    return (None, 0, 0, privileged, reset, at_us)


def test_statements_first_finds_the_extension_then_reads_counters_only() -> None:
    collector = StatementsCollector(StatementsSettings())
    asked_texts: list[tuple[str, list[int]]] = []

    def texts(schema: str, queryids: list[int]) -> dict[int, str | None]:
        asked_texts.append((schema, queryids))  # what the background classifier fetches
        return {1: "SELECT * FROM guests WHERE email = $1"}

    collector.texts.fetch = texts
    rows = [(1, 5, 10, 3, 1500.0, 30),
            (None, 5, 11, 7, 10.0, 1),   # another role's entry, queryid hidden
            sentinel()]
    _, samples, fake = run(collector, [("monitoring", True, True)], rows)
    assert collector.schema == "monitoring" and "pg_extension" in fake.asked[0][0]
    assert '"monitoring".pg_stat_statements(false)' in fake.asked[1][0]
    assert samples.value("dbhealth_query_calls_total", domain="other") == 7
    assert samples.value("dbhealth_statements_unclassified") == 1  # held back
    assert samples.value("dbhealth_statements_entries") == 2
    wait_until(lambda: not collector.texts.busy, what="the background classifier")
    assert asked_texts == [("monitoring", [1])]
    _, samples, fake = run(collector, rows)  # same counters: counted in full once classified
    assert len(fake.asked) == 1
    assert samples.value("dbhealth_query_calls_total", domain="guest_list") == 3
    assert samples.value("dbhealth_statements_unclassified") == 0


def test_statements_missing_extension_and_missing_privilege() -> None:
    with pytest.raises(StatementsUnavailable):
        run(StatementsCollector(StatementsSettings()), [])
    with pytest.raises(StatementsUnavailable):  # created, but not preloaded
        run(StatementsCollector(StatementsSettings()), [("public", True, False)])
    with pytest.raises(PrivilegeMissing):
        run(StatementsCollector(StatementsSettings()), [("public", False, True)])
    collector = StatementsCollector(StatementsSettings())
    run(collector, [("public", True, True)], [sentinel()])
    with pytest.raises(PrivilegeMissing):  # lost between collections: the sentinel says so
        run(collector, [(*sentinel(privileged=0),)])


def wedding_collector(at: datetime, **settings: Any) -> WeddingCollector:
    return WeddingCollector(WeddingSettings(**settings), "Europe/London", "public",
                            clock=lambda: at)


def test_wedding_counts_busy_days_and_the_database_override() -> None:
    wednesday = date(2026, 12, 2)
    at = datetime(2026, 12, 2, 12, 0, tzinfo=LONDON)
    until = at + timedelta(hours=3)
    produced, samples, _ = run(wedding_collector(at), [
        ("day", wednesday, 4.0, None), ("day", wednesday + timedelta(days=1), 12.0, None),
        ("day", None, 99.0, None), ("vendors", None, None, None), ("guests", None, 150.0, None),
        ("override", None, until.timestamp(), "bank holiday")])
    state = produced.wedding
    assert state is not None and state.mode and state.reason == "override"
    assert state.override is not None and state.override.reason == "bank holiday"
    assert state.weddings_today == 4 and state.vendors_today == 0 and state.guests_today == 150
    assert state.next_wedding_day == wednesday + timedelta(days=1)   # busy Thursday
    assert samples.value("dbhealth_wedding_peak_active") == 1
    assert produced.summary["dbhealth_weddings_today"] == 4
    assert produced.error is None


def test_wedding_database_down_serves_the_clock_and_remembered_counts() -> None:
    at = datetime(2026, 12, 2, 12, 0, tzinfo=LONDON)
    collector = wedding_collector(at, min_weddings_for_wedding_day=10)
    run(collector, [("day", date(2026, 12, 2), 10.0, None)])
    produced, samples, _ = run(collector, DatabaseUnavailable("down"))
    assert isinstance(produced.error, DatabaseUnavailable)
    assert produced.wedding is not None and produced.wedding.reason == "weddings_threshold"
    assert samples.value("dbhealth_wedding_day_mode") == 1
    assert samples.value("dbhealth_weddings_today") is None          # no stale counts served
    assert "dbhealth_weddings_today" not in produced.summary
