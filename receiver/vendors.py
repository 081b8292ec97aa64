"""Vendors with weddings today: read from the monitored database, notified soonest-first.

The query is policy SQL (defaults match the demo schema) run read-only with a
timeout against ``RECEIVER_VENDOR_DATABASE_URL`` (default: the receiver's own
database). Each vendor is rate-limited (``vendors.rate_limit_seconds``) with an
atomic upsert, so concurrent incidents cannot both text the same vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .db import Connection
from .escalation import page_key
from .outbox import Message, enqueue
from .policy import Policy
from .render import GENERIC_CUSTOMER_MESSAGE, Templates
from .webhook import Alert

VENDOR_PRIORITY = 100  # after every page to our own people


@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    name: str
    phone: str | None
    email: str | None
    ceremony_time: time | None


def fetch_vendors(dsn: str, policy: Policy, local_date: date) -> list[Vendor]:
    """Run the policy's vendor query; raises ``psycopg.Error`` when the source is unavailable."""
    settings = policy.vendors
    timeout_ms = int(settings.query_timeout_seconds * 1000)
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row,
                         connect_timeout=max(1, int(settings.query_timeout_seconds)),
                         application_name="dbhealth-receiver-vendors",
                         options=f"-c statement_timeout={timeout_ms} "
                                 "-c default_transaction_read_only=on") as conn:
        rows: list[dict[str, Any]] = conn.execute(
            settings.query, {"local_date": local_date}).fetchmany(settings.max_vendors)
    return [Vendor(str(r["vendor_id"]), str(r.get("business_name") or ""), r.get("phone"),
                   r.get("email"), r.get("ceremony_time")) for r in rows]


def _claim_rate_limit(conn: Connection, vendor_key: str, window_seconds: float) -> bool:
    row = conn.execute(
        "INSERT INTO receiver_vendor_rate_limit AS r (vendor_key, last_notified_at)"
        " VALUES (%s, now()) ON CONFLICT (vendor_key) DO UPDATE SET last_notified_at = now()"
        " WHERE r.last_notified_at <= now() - make_interval(secs => %s) RETURNING 1",
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
            enqueue(conn, Message(page_key(incident_id, "vendor", 0, key, channel), incident_id,
                                  "vendor", 0, channel, key, address, subject, body,
                                  VENDOR_PRIORITY + rank))
        notified += 1
    return notified, limited
