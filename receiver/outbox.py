"""The durable outbox: enqueue messages inside the caller's transaction, claim them in the worker.

Rows are unique on ``dedup_key``, so enqueueing the same step twice (HA duplicates,
retries, two schedulers) is a no-op. The worker claims one row at a time with
``FOR UPDATE SKIP LOCKED`` and keeps the row lock while sending: if the worker
dies mid-send, the lock goes with its session and the row is simply pending again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .db import Connection


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


@dataclass(frozen=True)
class Claimed:
    id: int
    incident_id: int | None
    kind: str
    tier: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    attempts: int
    created_at: datetime


def enqueue(conn: Connection, message: Message) -> bool:
    """Insert ``message`` unless its dedup key exists; True when it was new."""
    cur = conn.execute(
        "INSERT INTO receiver_outbox (dedup_key, incident_id, kind, tier, channel, recipient_key,"
        " recipient, subject, body, priority) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        (message.dedup_key, message.incident_id, message.kind, message.tier, message.channel,
         message.recipient_key, message.recipient, message.subject, message.body,
         message.priority),
    )
    return cur.fetchone() is not None


def claim_next(conn: Connection) -> Claimed | None:
    """Lock the most urgent due message (pages before vendor texts), skipping ones others hold."""
    row = conn.execute(
        "SELECT id, incident_id, kind, tier, channel, recipient, subject, body, attempts,"
        " created_at FROM receiver_outbox WHERE status = 'pending' AND next_attempt_at <= now()"
        " ORDER BY priority, next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
    ).fetchone()
    return Claimed(*row) if row else None


def mark_sent(conn: Connection, message_id: int, provider_id: str | None) -> None:
    conn.execute(
        "UPDATE receiver_outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1,"
        " provider_id = %s, last_error = NULL WHERE id = %s", (provider_id, message_id))


def mark_retry(conn: Connection, message_id: int, error: str, delay_seconds: float) -> None:
    conn.execute(
        "UPDATE receiver_outbox SET attempts = attempts + 1, last_error = %s,"
        " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
        (error, delay_seconds, message_id))


def mark_dead(conn: Connection, message_id: int, error: str, *, count_attempt: bool = True) -> None:
    conn.execute(
        "UPDATE receiver_outbox SET status = 'dead', last_error = %s,"
        " attempts = attempts + %s WHERE id = %s", (error, 1 if count_attempt else 0, message_id))


def record_attempt(conn: Connection, message_id: int, channel: str, masked: str,
                   outcome: str, error: str | None) -> None:
    conn.execute(
        "INSERT INTO receiver_notification_attempts"
        " (outbox_id, channel, recipient_masked, outcome, error) VALUES (%s, %s, %s, %s, %s)",
        (message_id, channel, masked, outcome, error))
