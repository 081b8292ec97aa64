"""Today's (and tomorrow's) vendors, snapshotted into the receiver's own database.

The vendor list lives in the monitored WedSync database, and the worst incident
is that database being down: reading the vendors only at incident time would
then notify nobody. So the worker refreshes a snapshot every
``vendors.roster_refresh_seconds`` (``refresh_due`` / ``refresh_roster``), and the
vendor step asks ``vendors_for``: the live query first (fresher: a booking made
this morning counts), the snapshot when the live source fails.

Tables (``migrations/0003_vendor_roster.sql``): ``receiver_vendor_roster`` (one row
per vendor and local date, in the query's soonest-first order) and
``receiver_vendor_roster_status`` (one row per local date: when the snapshot was
last taken, its size, the last failure's error class). Error text is never
stored or raised, only class names: a database error message can quote vendor data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg

from .db import Connection
from .policy import Policy
from .roster_query import VENDORS, Audience
from .vendors import Vendor, VendorRows, read_vendors

log = logging.getLogger(__name__)

RETENTION_DAYS = 7  # older snapshots hold phone numbers nobody will read again
_LOCK_KEY = 0x64627672  # "dbvr": pg_advisory_xact_lock(key, date ordinal) per roster date


class RosterError(Exception):
    """Base class; ``error_class`` names the live source's failure (e.g. ``OperationalError``)."""

    def __init__(self, message: str, *, error_class: str):
        super().__init__(message)
        self.error_class = error_class


class RefreshFailed(RosterError):
    """The live source could not be read: the previous snapshot was kept, the failure recorded."""


class RosterUnavailable(RosterError):
    """Neither the live source nor a snapshot for that date can say who the vendors are."""


@dataclass(frozen=True)
class RefreshResult:
    refreshed_at: datetime  # the receiver database's clock
    vendor_counts: dict[date, int]
    skipped_rows: dict[date, int]  # rows the query returned that were unusable (bad phone…)


@dataclass(frozen=True)
class RosterStatus:
    local_date: date
    refreshed_at: datetime | None  # None: never successfully taken
    age_seconds: float | None
    vendor_count: int
    last_error: str | None  # error class of the last failed refresh since the last success


def refresh_due(last_refreshed_at: datetime | None, now: datetime, policy: Policy) -> bool:
    """Whether the worker should refresh the roster now (pure: no clock, no database).

    Pass ``roster_status(conn, today).refreshed_at``: ``None`` (today's snapshot was
    never taken) is always due. Otherwise due every ``vendors.roster_refresh_seconds``;
    a snapshot from before yesterday (local date) cannot cover today and is due too, and
    a clock that jumped back by more than the interval does not postpone refreshing.
    """
    if last_refreshed_at is None:
        return True
    if now.tzinfo is None or last_refreshed_at.tzinfo is None:
        raise ValueError("refresh_due needs timezone-aware datetimes")
    today = now.astimezone(policy.zone).date()
    if last_refreshed_at.astimezone(policy.zone).date() < today - timedelta(days=1):
        return True
    age = (now - last_refreshed_at).total_seconds()
    return abs(age) >= policy.vendors.roster_refresh_seconds


def _record_failure(conn: Connection, local_date: date, error_class: str,
                    audience: Audience) -> None:
    conn.execute(
        f"INSERT INTO {audience.table}_status AS s"
        " (local_date, last_attempt_at, last_error, last_error_at)"
        " VALUES (%s, clock_timestamp(), %s, clock_timestamp())"
        " ON CONFLICT (local_date) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,"
        " last_error = excluded.last_error, last_error_at = excluded.last_error_at",
        (local_date, error_class))


def _replace(conn: Connection, local_date: date, rows: VendorRows, at: datetime,
             audience: Audience) -> None:
    # Serialise refreshes of one date: two workers racing would otherwise both delete the
    # committed rows and then collide inserting theirs.
    conn.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)",
                 (_LOCK_KEY + (audience is not VENDORS), local_date.toordinal()))
    conn.execute(f"DELETE FROM {audience.table} WHERE local_date = %s", (local_date,))
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {audience.table} (local_date, position, vendor_id, business_name,"
            " phone, email, ceremony_time) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(local_date, position, v.vendor_id, v.name, v.phone, v.email, v.ceremony_time)
             for position, v in enumerate(rows.vendors)])
    conn.execute(
        f"INSERT INTO {audience.table}_status AS s (local_date, refreshed_at, vendor_count,"
        " skipped_rows, last_attempt_at) VALUES (%(d)s, %(at)s, %(n)s, %(skipped)s, %(at)s)"
        " ON CONFLICT (local_date) DO UPDATE SET refreshed_at = excluded.refreshed_at,"
        " vendor_count = excluded.vendor_count, skipped_rows = excluded.skipped_rows,"
        " last_attempt_at = excluded.last_attempt_at, last_error = NULL, last_error_at = NULL",
        {"d": local_date, "at": at, "n": len(rows.vendors), "skipped": rows.skipped})


def refresh_roster(conn: Connection, vendor_dsn: str, policy: Policy, today: date,
                   audience: Audience = VENDORS) -> RefreshResult:
    """Snapshot the vendors of ``today`` and the next day (local dates) into ``conn``.

    Tomorrow is taken too so that just after local midnight, before the next refresh,
    the new day already has a roster. Each date's rows are replaced atomically (a
    savepoint inside the caller's transaction, or a transaction of its own when
    ``conn`` is in autocommit); snapshots older than ``RETENTION_DAYS`` are dropped.

    When the live source fails (``psycopg.Error``) the old snapshots stay, the failure
    class is written to both status rows and ``RefreshFailed`` is raised. Catch it
    *inside* the transaction so that the status rows are committed::

        with db.transaction() as conn:
            try:
                refresh_roster(conn, settings.vendor_dsn, policy, today)
            except roster.RefreshFailed as exc:
                log.warning("vendor roster not refreshed (%s)", exc.error_class)
    """
    dates = (today, today + timedelta(days=1))
    try:
        found = read_vendors(vendor_dsn, policy, dates, audience)
    except psycopg.Error as exc:
        error_class = type(exc).__name__
        with conn.transaction():
            for local_date in dates:
                _record_failure(conn, local_date, error_class, audience)
        # "from None": the cause's message may quote vendor data; its class is kept.
        raise RefreshFailed(f"{audience.kind} roster not refreshed: live source failed ({error_class});"
                            " the previous snapshot is kept", error_class=error_class) from None
    with conn.transaction():
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        refreshed_at: datetime = row[0]
        for local_date, rows in found.items():
            _replace(conn, local_date, rows, refreshed_at, audience)
        cutoff = today - timedelta(days=RETENTION_DAYS)
        conn.execute(f"DELETE FROM {audience.table} WHERE local_date < %s", (cutoff,))
        conn.execute(f"DELETE FROM {audience.table}_status WHERE local_date < %s", (cutoff,))
    return RefreshResult(refreshed_at, {d: len(r.vendors) for d, r in found.items()},
                         {d: r.skipped for d, r in found.items()})


def _snapshot(conn: Connection, local_date: date,
              audience: Audience) -> tuple[list[Vendor], datetime] | None:
    status = conn.execute(f"SELECT refreshed_at FROM {audience.table}_status"
                          " WHERE local_date = %s AND refreshed_at IS NOT NULL",
                          (local_date,)).fetchone()
    if status is None:
        return None
    rows = conn.execute("SELECT vendor_id, business_name, phone, email, ceremony_time"
                        f" FROM {audience.table} WHERE local_date = %s ORDER BY position",
                        (local_date,)).fetchall()
    return [Vendor(*row) for row in rows], status[0]


def vendors_for(conn: Connection, vendor_dsn: str, policy: Policy, local_date: date,
                audience: Audience = VENDORS) -> tuple[list[Vendor], str]:
    """The vendors of ``local_date`` and where they came from: ``"live"`` or ``"snapshot"``.

    The live query (with ``vendors.query_timeout_seconds``) is tried first; when it fails
    the snapshot answers. A snapshot that was taken and is empty is a valid answer (no
    weddings that day). ``RosterUnavailable`` when the live source failed and no snapshot
    of that date was ever taken: the caller retries later rather than telling nobody.
    """
    try:
        return (read_vendors(vendor_dsn, policy, [local_date], audience)[local_date].vendors,
                "live")
    except psycopg.Error as exc:
        error_class = type(exc).__name__
    snapshot = _snapshot(conn, local_date, audience)
    if snapshot is None:
        raise RosterUnavailable(f"no {audience.kind}s for {local_date}: live source failed ({error_class})"
                                " and no snapshot was taken", error_class=error_class)
    vendors, taken_at = snapshot
    log.warning("%s source unavailable (%s): using the %s snapshot taken at %s (%d rows)",
                audience.kind, error_class, local_date, taken_at.isoformat(timespec="seconds"),
                len(vendors))
    return vendors, "snapshot"


def roster_status(conn: Connection, local_date: date,
                  audience: Audience = VENDORS) -> RosterStatus:
    """Age and size of ``local_date``'s snapshot, by the receiver database's clock (for metrics)."""
    row = conn.execute(
        "SELECT refreshed_at, extract(epoch FROM clock_timestamp() - refreshed_at)::float8,"
        f" vendor_count, last_error FROM {audience.table}_status WHERE local_date = %s",
        (local_date,)).fetchone()
    if row is None:
        return RosterStatus(local_date, None, None, 0, None)
    refreshed_at, age, count, last_error = row
    return RosterStatus(local_date, refreshed_at, age, count if refreshed_at else 0, last_error)
