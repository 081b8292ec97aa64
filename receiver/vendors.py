"""Vendors with weddings today: read from the monitored database, notified soonest-first.

The query is policy SQL (defaults match the demo schema) run read-only with a
timeout against ``RECEIVER_VENDOR_DATABASE_URL`` (default: the receiver's own
database). Each vendor is rate-limited (``vendors.rate_limit_seconds``) with an
atomic upsert, so concurrent incidents cannot both text the same vendor.

The query is checked twice because a mistake in it is only found on a wedding
day otherwise: statically when the policy loads (``roster_query.check_vendor_query``: one
SELECT naming its columns), and live by ``check-config``
(``describe_vendor_query``). Rows are checked one by one, so one vendor with a
malformed phone number costs that vendor, not every vendor's message.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .db import Connection
from .outbox import VENDOR_PRIORITY, Message, enqueue
from .policy import _E164, _EMAIL, Policy
from .render import GENERIC_CUSTOMER_MESSAGE, Templates
from .roster_query import VENDORS, Audience, check_vendor_query, column_problem
from .webhook import Alert

log = logging.getLogger(__name__)

_TIME_OIDS = {1083, 1266}  # time, timetz

@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    name: str
    phone: str | None
    email: str | None
    ceremony_time: time | None


@dataclass(frozen=True)
class VendorRows:
    """One date's usable vendors (query order) and how many rows were skipped as unusable."""

    vendors: list[Vendor]
    skipped: int


def _query_of(audience: Audience, policy: Policy) -> str:
    return policy.vendors.query if audience.kind == "vendor" else policy.couples.query


def _connect(dsn: str, policy: Policy, **kwargs: Any) -> psycopg.Connection[Any]:
    timeout = policy.vendors.query_timeout_seconds
    return psycopg.connect(dsn, connect_timeout=max(1, round(timeout)),
                           application_name="dbhealth-receiver-vendors",
                           options=f"-c statement_timeout={int(timeout * 1000)} "
                                   "-c default_transaction_read_only=on", **kwargs)


def describe_vendor_query(vendor_dsn: str, policy: Policy,
                          audience: Audience = VENDORS) -> list[str]:
    """Live check for ``check-config``: the query's real columns on the vendor database.

    The query is opened as a server-side cursor (planned, never fetched) in a read-only
    transaction, so it costs a plan, not a run. Problems name ``vendors.query``; errors
    carry only their class (and SQLSTATE), never a message that could quote data.
    """
    try:
        check_vendor_query(_query_of(audience, policy), audience)
    except ValueError as exc:
        return [f"{audience.key()}: {exc}"]
    local_date = datetime.now(policy.zone).date()
    try:
        conn = _connect(vendor_dsn, policy)
    except psycopg.Error as exc:
        return [f"{audience.key()}: could not be checked: {type(exc).__name__}"]
    try:
        with conn, conn.cursor(name="dbhealth_vendor_check") as cursor:
            cursor.execute(_query_of(audience, policy),
                           {"local_date": local_date})
            columns = [(c.name, c.type_code) for c in cursor.description or []]
    except psycopg.OperationalError as exc:
        return [f"{audience.key()}: could not be checked: {type(exc).__name__}"]
    except psycopg.Error as exc:
        state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
        return [f"{audience.key()}: the vendor database refused it: {type(exc).__name__}{state}"]
    problems = []
    problem = column_problem([name for name, _ in columns], audience)
    if problem:
        problems.append(f"{audience.key()}: {problem}")
    if any(name == "ceremony_time" and oid not in _TIME_OIDS for name, oid in columns):
        problems.append(f"{audience.key()}: ceremony_time must be of type time")
    return problems


def _address(value: Any, pattern: re.Pattern[str]) -> tuple[str | None, bool]:
    """(address or None, valid): an empty value is no address, not a bad one."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None, True
    return (text, True) if pattern.match(text) else (None, False)


def _vendor(row: dict[str, Any], audience: Audience = VENDORS) -> Vendor | str:
    """The row as a Vendor (or couple), or the reason it cannot be one (a word, never the
    row's data)."""
    vendor_id = row.get(audience.id_column)
    if vendor_id is None or str(vendor_id) == "":
        return f"no {audience.id_column}"
    phone, phone_ok = _address(row.get("phone"), _E164)
    email, email_ok = _address(row.get("email"), _EMAIL)
    if not phone_ok:
        return "phone not E.164"
    if not email_ok:
        return "bad email"
    if phone is None and email is None:
        return "no phone or email"
    ceremony = row.get("ceremony_time")
    return Vendor(str(vendor_id), str(row.get(audience.name_column) or ""), phone, email,
                  ceremony if isinstance(ceremony, time) else None)


def read_vendors(dsn: str, policy: Policy, dates: Sequence[date],
                 audience: Audience = VENDORS) -> dict[date, VendorRows]:
    """Run the policy's vendor (or couple) query once per date on one connection.

    Raises ``psycopg.Error`` when the source is unavailable. Unusable rows are skipped
    and counted (logged as counts per reason: no phone number or email reaches a log).
    """
    found: dict[date, VendorRows] = {}
    with _connect(dsn, policy, autocommit=True, row_factory=dict_row) as conn:
        for local_date in dates:
            rows: list[dict[str, Any]] = conn.execute(
                _query_of(audience, policy), {"local_date": local_date}
            ).fetchmany(policy.vendors.max_vendors)
            vendors: list[Vendor] = []
            reasons: Counter[str] = Counter()
            for row in rows:
                vendor = _vendor(row, audience)
                if isinstance(vendor, Vendor):
                    vendors.append(vendor)
                else:
                    reasons[vendor] += 1
            if reasons:
                log.warning("%s query for %s: %d row(s) skipped (%s)", audience.kind, local_date,
                            reasons.total(),
                            ", ".join(f"{n} {why}" for why, n in sorted(reasons.items())))
            found[local_date] = VendorRows(vendors, reasons.total())
    return found


def fetch_vendors(dsn: str, policy: Policy, local_date: date) -> list[Vendor]:
    """Run the policy's vendor query; raises ``psycopg.Error`` when the source is unavailable."""
    return read_vendors(dsn, policy, [local_date])[local_date].vendors


def _claim_rate_limit(conn: Connection, vendor_key: str, window_seconds: float) -> bool:
    row = conn.execute(
        "INSERT INTO receiver_vendor_rate_limit AS r (vendor_key, last_notified_at)"
        " VALUES (%s, now()) ON CONFLICT (vendor_key) DO UPDATE SET last_notified_at = now()"
        " WHERE r.last_notified_at <= now() - make_interval(secs => %s::float8) RETURNING 1",
        (vendor_key, window_seconds)).fetchone()
    return row is not None


def enqueue_vendor_messages(conn: Connection, templates: Templates, policy: Policy,
                            incident_id: int, alert: Alert,
                            vendors: list[Vendor]) -> tuple[int, int]:
    """Enqueue one message per vendor and channel; returns (vendors notified, rate-limited)."""
    notified = limited = 0
    message = alert.annotations.get("customer_message", GENERIC_CUSTOMER_MESSAGE)
    for rank, vendor in enumerate(vendors):
        key = f"vendor-{vendor.vendor_id}"
        if not _claim_rate_limit(conn, key, policy.vendors.rate_limit_seconds):
            limited += 1
            continue
        context = {"vendor_name": vendor.name, "customer_message": message,
                   "ceremony_time": vendor.ceremony_time.strftime("%H:%M")
                   if vendor.ceremony_time else "today"}
        for channel in policy.vendors.channels:
            address = vendor.phone if channel == "sms" else vendor.email
            if not address:
                continue
            subject = templates.render("vendor_email_subject", context) if channel == "email" \
                else None
            body = templates.render("vendor_email_body" if channel == "email" else "vendor_sms",
                                    context)
            enqueue(conn, Message(f"{incident_id}:vendor:0:{key}:{channel}", incident_id,
                                  "vendor", 0, channel, key, address, subject, body,
                                  VENDOR_PRIORITY + rank))
        notified += 1
    return notified, limited
