"""The durable outbox: enqueue inside the caller's transaction; claim, then record, in the worker.

Rows are unique on ``dedup_key``, so enqueueing the same step twice (HA twins,
retries, two schedulers) is a no-op. A sender *claims* a row in a short
transaction of its own (``status='sending'``, attempt counted, lease set) and
commits before any network call; the outcome is written afterwards in another
one. No row lock is held across a send, so a slow provider blocks nothing else,
and a sender that dies leaves a lease that runs out: the next claim knows the
outcome is unknown (``delivery.before_send``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from .db import Connection
from .delivery import Claim

LEASE_GRACE_SECONDS = 5.0  # on top of the send deadline before a claim counts as lost
PRIORITY = {"emergency": 0, "critical": 10, "warning": 20, "info": 30}
RESOLVED_PRIORITY = 40
VENDOR_PRIORITY = 100  # after every message to our own people


@dataclass(frozen=True)
class Message:
    dedup_key: str
    incident_id: int | None
    kind: str
    tier: int
    channel: str
    recipient_key: str
    recipient: str
    subject: str | None
    body: str
    priority: int = 0
    max_age_seconds: float = 900.0


@dataclass(frozen=True)
class Claimed:
    id: int
    incident_id: int | None
    kind: str
    tier: int
    channel: str
    recipient_key: str
    recipient: str
    subject: str | None
    body: str
    claim: Claim
    config_fault: bool = False  # the previous attempt failed through our own configuration


def enqueue(conn: Connection, message: Message) -> bool:
    """Insert ``message`` unless its dedup key exists; True when it was new."""
    return enqueue_many(conn, [message]) == 1


def enqueue_many(conn: Connection, messages: list[Message]) -> int:
    """Insert messages (unless their dedup key exists) in one round trip; returns how many
    were new. A NOTIFY per channel (delivered at commit) wakes the worker's senders at once.
    """
    if not messages:
        return 0
    # One JSON document rather than eleven typed arrays (see audit.Trail.flush).
    rows = conn.execute(
        "WITH new AS (INSERT INTO receiver_outbox (dedup_key, incident_id, kind, tier, channel,"
        " recipient_key, recipient, subject, body, priority, expires_at)"
        " SELECT k, i, kd, t, ch, rk, r, sj, b, p, now() + make_interval(secs => a)"
        " FROM jsonb_to_recordset(%s) AS m(k text, i bigint, kd text, t int, ch text, rk text,"
        " r text, sj text, b text, p int, a float8)"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING channel)"
        " SELECT count(*), pg_notify('receiver_outbox', channel) FROM new GROUP BY channel",
        [Jsonb([{"k": m.dedup_key, "i": m.incident_id, "kd": m.kind, "t": m.tier,
                 "ch": m.channel, "rk": m.recipient_key, "r": m.recipient, "sj": m.subject,
                 "b": m.body, "p": m.priority, "a": m.max_age_seconds}
                for m in messages])]).fetchall()
    return sum(int(r[0]) for r in rows)


def next_candidate(conn: Connection, channel: str) -> tuple[Claimed, datetime] | None:
    """Lock the most urgent due row of ``channel`` (or one whose claimer went silent).

    Returns it with the database's clock, which every decision about it uses.
    """
    row = conn.execute(
        "SELECT id, incident_id, kind, tier, channel, recipient_key, recipient, subject, body,"
        " attempts, blind_retries, expires_at, status = 'sending', config_fault, now()"
        " FROM receiver_outbox"
        " WHERE channel = %s AND ((status = 'pending' AND next_attempt_at <= now())"
        " OR (status = 'sending' AND lease_until < now()))"
        " ORDER BY priority, next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (channel,)).fetchone()
    if row is None:
        return None
    (message_id, incident_id, kind, tier, channel_, key, recipient, subject, body, attempts,
     blind, expires_at, lease_expired, fault, now) = row
    return Claimed(message_id, incident_id, kind, tier, channel_, key, recipient, subject, body,
                   Claim(attempts + 1, blind, expires_at, lease_expired), fault), now


def recent_sends(conn: Connection, recipient_key: str, channel: str,
                 window_seconds: float) -> list[datetime]:
    rows = conn.execute(
        "SELECT sent_at FROM receiver_outbox WHERE recipient_key = %s AND channel = %s"
        " AND status = 'sent' AND sent_at > now() - make_interval(secs => %s::float8)",
        (recipient_key, channel, window_seconds)).fetchall()
    return [r[0] for r in rows]


def claim(conn: Connection, message_id: int, lease_seconds: float, *, blind: bool) -> None:
    """Count the attempt and lease the row; committed by the caller before the send."""
    conn.execute(
        "UPDATE receiver_outbox SET status = 'sending', attempts = attempts + 1,"
        " blind_retries = blind_retries + %s, lease_until = now() + make_interval(secs => %s::float8)"
        " WHERE id = %s", (1 if blind else 0, lease_seconds + LEASE_GRACE_SECONDS, message_id))


def postpone(conn: Connection, message_id: int, until: datetime) -> None:
    conn.execute("UPDATE receiver_outbox SET next_attempt_at = %s WHERE id = %s",
                 (until, message_id))


def mark_sent(conn: Connection, message_id: int, provider_id: str | None) -> None:
    # Unfenced: a late "delivered" is the truth even if the lease ran out meanwhile.
    conn.execute(
        "UPDATE receiver_outbox SET status = 'sent', sent_at = now(), provider_id = %s,"
        " last_error = NULL, lease_until = NULL WHERE id = %s AND status IN ('sending', 'pending')",
        (provider_id, message_id))


# After a send the row is no longer locked: ``fence`` (the attempts count of our claim)
# keeps a sender whose lease ran out from overwriting the claim of the one after it.
_FENCE = " AND (%(fence)s::int IS NULL OR (status = 'sending' AND attempts = %(fence)s::int))"


def mark_retry(conn: Connection, message_id: int, error: str, at: datetime, *,
               config_fault: bool, blind: bool, fence: int | None) -> bool:
    """Back to pending at ``at`` (``blind``: that re-send follows an unknown outcome).

    False when another claimer owns the row now.
    """
    cur = conn.execute(
        "UPDATE receiver_outbox SET status = 'pending', last_error = %(error)s,"
        " next_attempt_at = %(at)s, lease_until = NULL, config_fault = %(fault)s,"
        " blind_retries = blind_retries + %(blind)s WHERE id = %(id)s" + _FENCE,
        {"error": error, "at": at, "fault": config_fault, "blind": 1 if blind else 0,
         "id": message_id, "fence": fence})
    return cur.rowcount == 1


def mark_dead(conn: Connection, message_id: int, error: str, *, config_fault: bool,
              fence: int | None) -> bool:
    cur = conn.execute(
        "UPDATE receiver_outbox SET status = 'dead', last_error = %(error)s, lease_until = NULL,"
        " config_fault = %(fault)s WHERE id = %(id)s" + _FENCE,
        {"error": error, "fault": config_fault, "id": message_id, "fence": fence})
    return cur.rowcount == 1


def record_attempt(conn: Connection, message_id: int, channel: str, masked: str,
                   outcome: str, error: str | None, *, config_fault: bool = False) -> None:
    conn.execute(
        "INSERT INTO receiver_notification_attempts (outbox_id, channel, recipient_masked,"
        " outcome, error, config_fault) VALUES (%s, %s, %s, %s, %s, %s)",
        (message_id, channel, masked, outcome, error, config_fault))
