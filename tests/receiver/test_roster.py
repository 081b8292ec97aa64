"""The vendor roster snapshot and the vendor query's checks.

The database tests use real PostgreSQL: a receiver database (``receiver_dsn``), a
demo-schema vendor database with vendors today and tomorrow, and, for "the
monitored database is down", an address where nothing listens.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from receiver.errors import ConfigError
from receiver.policy import DEFAULT_VENDOR_QUERY, Policy
from receiver.roster import (
    RefreshFailed,
    RosterUnavailable,
    refresh_due,
    refresh_roster,
    roster_status,
    vendors_for,
)
from receiver.roster_query import check_vendor_query
from receiver.settings import load_settings
from receiver.vendors import describe_vendor_query, fetch_vendors, read_vendors

from ..support.ports import free_port
from ..support.postgres import PostgresServer
from ..support.receiver_stack import make_policy, receiver_env, write_policy
from ..support.vendor_data import (
    PROBLEM_KEPT_EMAIL,
    PROBLEM_SKIPPED,
    PROBLEM_VENDORS,
    TODAY_IN_ORDER,
    add_problem_vendors,
    create_vendor_database,
)

_counter = itertools.count()
Conn = psycopg.Connection[tuple[Any, ...]]


def policy_with(**vendors: Any) -> Policy:
    return Policy.model_validate(make_policy(vendors={"rate_limit_seconds": 3600, **vendors}))


@pytest.fixture
def policy() -> Policy:
    return policy_with(query_timeout_seconds=2)


@pytest.fixture
def today() -> date:
    return datetime.now(UTC).date()  # the vendor data's "today"; the test policy is in UTC


@pytest.fixture
def vendor_dsn(pg_server: PostgresServer) -> str:
    dsn = pg_server.create_database(f"vendors_r{next(_counter)}")
    create_vendor_database(dsn)
    return dsn


@pytest.fixture
def down_dsn() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/wedsync"


@pytest.fixture
def conn(receiver_dsn: str) -> Iterator[Conn]:
    with psycopg.connect(receiver_dsn, autocommit=True) as connection:
        yield connection


def status_row(conn: Conn, day: date) -> tuple[Any, ...] | None:
    return conn.execute("SELECT refreshed_at, vendor_count, skipped_rows, last_error"
                        " FROM receiver_vendor_roster_status WHERE local_date = %s",
                        (day,)).fetchone()


# --- the snapshot ---------------------------------------------------------------------------

def test_source_down_answers_from_the_snapshot_in_the_same_order(
        conn: Conn, vendor_dsn: str, down_dsn: str, policy: Policy, today: date) -> None:
    result = refresh_roster(conn, vendor_dsn, policy, today)
    assert result.vendor_counts == {today: 3, today + timedelta(days=1): 1}

    live, source = vendors_for(conn, vendor_dsn, policy, today)
    assert source == "live" and [v.phone for v in live] == TODAY_IN_ORDER
    snapshot, source = vendors_for(conn, down_dsn, policy, today)
    assert source == "snapshot"
    assert snapshot == live  # same vendors, names, addresses, ceremony times and order
    tomorrow, source = vendors_for(conn, down_dsn, policy, today + timedelta(days=1))
    assert source == "snapshot" and [v.phone for v in tomorrow] == ["+447700900104"]


def test_source_down_and_no_snapshot_is_an_error(
        conn: Conn, vendor_dsn: str, down_dsn: str, policy: Policy, today: date) -> None:
    with pytest.raises(RosterUnavailable) as raised:
        vendors_for(conn, down_dsn, policy, today)
    assert raised.value.error_class == "OperationalError"
    refresh_roster(conn, vendor_dsn, policy, today)
    with pytest.raises(RosterUnavailable):  # today and tomorrow only, not the day after
        vendors_for(conn, down_dsn, policy, today + timedelta(days=2))


def test_an_empty_snapshot_is_an_answer(
        conn: Conn, vendor_dsn: str, down_dsn: str, policy: Policy, today: date) -> None:
    quiet_day = today + timedelta(days=30)
    assert refresh_roster(conn, vendor_dsn, policy, quiet_day).vendor_counts[quiet_day] == 0
    assert vendors_for(conn, down_dsn, policy, quiet_day) == ([], "snapshot")


def test_a_failed_refresh_keeps_the_snapshot_and_records_the_error_class(
        conn: Conn, receiver_dsn: str, vendor_dsn: str, down_dsn: str, policy: Policy,
        today: date) -> None:
    refresh_roster(conn, vendor_dsn, policy, today)
    before = status_row(conn, today)
    conn.autocommit = False
    # The documented pattern: caught inside the transaction, so the status row commits.
    with conn.transaction(), pytest.raises(RefreshFailed) as raised:
        refresh_roster(conn, down_dsn, policy, today)
    conn.autocommit = True
    assert raised.value.error_class == "OperationalError"
    assert "127.0.0.1" not in str(raised.value)  # the class, not the driver's message

    with psycopg.connect(receiver_dsn) as other:  # committed, seen from another session
        after = status_row(other, today)
        vendors, source = vendors_for(other, down_dsn, policy, today)
    assert before is not None and after is not None
    assert after[:3] == before[:3] and after[3] == "OperationalError"
    assert source == "snapshot" and [v.phone for v in vendors] == TODAY_IN_ORDER

    refresh_roster(conn, vendor_dsn, policy, today)  # a success clears the error
    assert (status_row(conn, today) or ())[3] is None


def test_a_failed_first_refresh_is_recorded_but_is_no_snapshot(
        conn: Conn, down_dsn: str, policy: Policy, today: date) -> None:
    with pytest.raises(RefreshFailed):
        refresh_roster(conn, down_dsn, policy, today)
    assert status_row(conn, today) == (None, 0, 0, "OperationalError")
    status = roster_status(conn, today)
    assert status.refreshed_at is None and status.age_seconds is None
    assert status.last_error == "OperationalError"
    with pytest.raises(RosterUnavailable):
        vendors_for(conn, down_dsn, policy, today)


def test_refresh_replaces_the_rows_of_its_dates(
        conn: Conn, vendor_dsn: str, down_dsn: str, policy: Policy, today: date) -> None:
    refresh_roster(conn, vendor_dsn, policy, today)
    with psycopg.connect(vendor_dsn, autocommit=True) as source:
        source.execute("UPDATE bookings SET status = 'cancelled' WHERE vendor_id = 2")
    refresh_roster(conn, vendor_dsn, policy, today)
    vendors, _ = vendors_for(conn, down_dsn, policy, today)
    assert [v.phone for v in vendors] == TODAY_IN_ORDER[1:]
    assert roster_status(conn, today).vendor_count == 2


def test_roster_status_age_grows_and_resets_on_refresh(
        conn: Conn, vendor_dsn: str, policy: Policy, today: date) -> None:
    assert roster_status(conn, today).age_seconds is None
    refresh_roster(conn, vendor_dsn, policy, today)
    fresh = roster_status(conn, today)
    assert fresh.vendor_count == 3 and fresh.age_seconds is not None
    assert 0 <= fresh.age_seconds < 60
    assert fresh.refreshed_at is not None
    assert not refresh_due(fresh.refreshed_at, fresh.refreshed_at, policy)

    # An hour passes (moved on the database's own clock rather than slept).
    conn.execute("UPDATE receiver_vendor_roster_status SET refreshed_at = refreshed_at"
                 " - interval '1 hour' WHERE local_date = %s", (today,))
    old = roster_status(conn, today)
    assert old.age_seconds is not None and old.age_seconds >= 3600 + fresh.age_seconds
    assert old.refreshed_at is not None and refresh_due(old.refreshed_at, fresh.refreshed_at, policy)
    again = roster_status(conn, today)
    assert again.age_seconds is not None and again.age_seconds >= old.age_seconds

    refresh_roster(conn, vendor_dsn, policy, today)
    reset = roster_status(conn, today)
    assert reset.age_seconds is not None and reset.age_seconds < 60


# --- bad rows --------------------------------------------------------------------------------

def test_bad_rows_are_skipped_and_good_ones_kept(
        conn: Conn, vendor_dsn: str, down_dsn: str, policy: Policy, today: date,
        caplog: pytest.LogCaptureFixture) -> None:
    add_problem_vendors(vendor_dsn)
    caplog.set_level(logging.WARNING, logger="receiver")
    found = read_vendors(vendor_dsn, policy, [today])[today]
    assert found.skipped == PROBLEM_SKIPPED
    assert [v.phone or v.email for v in found.vendors] == [*TODAY_IN_ORDER, PROBLEM_KEPT_EMAIL]
    assert found.vendors[-1].phone is None  # an empty phone is no phone, not a bad one
    assert fetch_vendors(vendor_dsn, policy, today) == found.vendors

    result = refresh_roster(conn, vendor_dsn, policy, today)
    assert result.skipped_rows[today] == PROBLEM_SKIPPED
    assert vendors_for(conn, down_dsn, policy, today) == (found.vendors, "snapshot")
    assert f"{PROBLEM_SKIPPED} row(s) skipped" in caplog.text
    for _id, _name, phone, email, _time in PROBLEM_VENDORS:
        for address in (phone, email):
            assert not address or address not in caplog.text


# --- the vendor query: static checks (no database) ---------------------------------------------

BAD_QUERIES = {
    "no vendor_id": "SELECT v.business_name, v.phone, v.email FROM vendors v",
    "select star": "SELECT * FROM vendors",
    "star of a table": "SELECT v.* FROM vendors v",
    "two statements": "SELECT id AS vendor_id, phone, email FROM vendors; SELECT 1",
    "break-out": "SELECT id AS vendor_id, phone, email FROM vendors) AS q;"
                 " DELETE FROM vendors; SELECT * FROM (SELECT 1",
    "unnamed expression": "SELECT id::text, phone, email FROM vendors",
    "not a select": "DELETE FROM vendors",
    "writing CTE": "WITH d AS (DELETE FROM vendors RETURNING *)"
                   " SELECT id AS vendor_id, phone, email FROM d",
    "select into": "SELECT id AS vendor_id, phone, email INTO copy FROM vendors",
    "unknown placeholder": "SELECT id AS vendor_id, phone, email FROM vendors WHERE d = %(day)s",
    "lone percent": "SELECT id AS vendor_id, phone, email FROM vendors WHERE email LIKE '%x'",
    "typo column": "SELECT id AS vendor_id, phone, email, name AS bussiness_name FROM vendors",
    "duplicate column": "SELECT id AS vendor_id, phone, email AS phone FROM vendors",
    "not sql": "SELEC id AS vendor_id",
}


@pytest.mark.parametrize("query", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_vendor_queries_are_refused_naming_the_key(query: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        check_vendor_query(query)
    with pytest.raises(ValidationError, match=r"vendors\.query"):
        policy_with(query=query)
    path = write_policy(make_policy(vendors={"query": query}), tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_settings(receiver_env("postgresql://localhost/receiver", path))
    assert any(p.startswith("policy vendors.query:") for p in raised.value.details)


GOOD_QUERIES = {
    "default": DEFAULT_VENDOR_QUERY,
    "plain columns": "SELECT vendor_id, phone, email FROM roster WHERE day = %(local_date)s;",
    "union": "SELECT id::text AS vendor_id, phone, email FROM a WHERE d = %(local_date)s"
             " UNION ALL SELECT 'x', '+447700900000', NULL",
    "literal percent": "SELECT id AS vendor_id, phone, email FROM v WHERE email LIKE '%%.example'",
}


@pytest.mark.parametrize("query", GOOD_QUERIES.values(), ids=GOOD_QUERIES.keys())
def test_good_vendor_queries_pass(query: str) -> None:
    assert {"vendor_id", "phone", "email"} <= set(check_vendor_query(query))
    assert policy_with(query=query).vendors.query == query


def test_roster_refresh_seconds_defaults_and_bounds() -> None:
    assert policy_with().vendors.roster_refresh_seconds == 900
    with pytest.raises(ValidationError, match="roster_refresh_seconds"):
        policy_with(roster_refresh_seconds=10)


# --- the vendor query: live check ------------------------------------------------------------

def test_describe_vendor_query_checks_the_real_columns(
        vendor_dsn: str, down_dsn: str, policy: Policy) -> None:
    assert describe_vendor_query(vendor_dsn, policy) == []
    assert describe_vendor_query(down_dsn, policy) == [
        "vendors.query: could not be checked: OperationalError"]
    missing_table = policy_with(query="SELECT id AS vendor_id, phone, email FROM suppliers")
    assert describe_vendor_query(vendor_dsn, missing_table) == [
        "vendors.query: the vendor database refused it: UndefinedTable (SQLSTATE 42P01)"]
    terminated = policy_with(query="SELECT id AS vendor_id, phone, email FROM vendors"
                                   " WHERE id > 0; -- a trailing comment")
    assert describe_vendor_query(vendor_dsn, terminated) == []
    text_time = policy_with(query="SELECT id AS vendor_id, phone, email,"
                                  " 'noon' AS ceremony_time FROM vendors")
    assert describe_vendor_query(vendor_dsn, text_time) == [
        "vendors.query: ceremony_time must be of type time"]


# --- refresh_due (plain values) --------------------------------------------------------------

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("last", "interval", "due"), [
    (None, 900, True),                                 # today's snapshot never taken
    (NOW, 900, False),
    (NOW - timedelta(seconds=899), 900, False),
    (NOW - timedelta(seconds=900), 900, True),
    (NOW + timedelta(seconds=5), 900, False),          # the database clock a little ahead
    (NOW + timedelta(hours=2), 900, True),             # the clock jumped back
    (NOW - timedelta(hours=20), 86400, False),         # yesterday's refresh covers today
    (NOW - timedelta(days=2), 86400, True),            # too old to hold today at all
])
def test_refresh_due(last: datetime | None, interval: float, due: bool) -> None:
    assert refresh_due(last, NOW, policy_with(roster_refresh_seconds=interval)) is due


def test_refresh_due_counts_days_in_the_policy_time_zone() -> None:
    # London springs forward on 2024-03-31, a 23-hour day: at 00:00:30 on 1 April a
    # refresh from late on 30 March is under a day old, yet its snapshots (30th, 31st)
    # cannot hold 1 April. One from early on the 31st covers it (the 31st and the 1st).
    london = Policy.model_validate(make_policy(timezone="Europe/London",
                                               vendors={"roster_refresh_seconds": 86400}))
    now = datetime(2024, 3, 31, 23, 0, 30, tzinfo=UTC)  # 00:00:30 BST on 1 April
    assert refresh_due(datetime(2024, 3, 30, 23, 59, 59, tzinfo=UTC), now, london)
    assert not refresh_due(datetime(2024, 3, 31, 0, 0, 1, tzinfo=UTC), now, london)


def test_refresh_due_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        refresh_due(datetime(2024, 6, 15, 11, 0), NOW, policy_with())


def test_the_couple_query_is_checked_like_the_vendor_query(tmp_path: Path,
                                                           vendor_dsn: str) -> None:
    from receiver.policy import DEFAULT_COUPLE_QUERY, Policy
    from receiver.roster_query import COUPLES
    from receiver.vendors import describe_vendor_query

    assert set(check_vendor_query(DEFAULT_COUPLE_QUERY, COUPLES)) == {
        "couple_id", "couple_names", "phone", "email", "ceremony_time"}
    with pytest.raises(ValueError, match="couple_id"):
        check_vendor_query("SELECT id AS vendor_id, phone, email FROM couples", COUPLES)
    path = write_policy(make_policy(couples={"enabled": True, "query": "SELECT 1 AS phone"}),
                        tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_settings(receiver_env("postgresql://localhost/receiver", path))
    assert any(p.startswith("policy couples.query:") for p in raised.value.details)
    live = Policy.model_validate(make_policy(couples={"enabled": True}))
    assert describe_vendor_query(vendor_dsn, live, COUPLES) == []  # the demo schema's columns
