"""Record one Alertmanager webhook: inbox row, alert upserts, incidents and first pages, atomically.

Alert identity is fingerprint + startsAt. A new firing alert opens an incident;
a repeat (HA twin, retry, repeat_interval) only bumps counters; a resolved
alert closes its incident. The caller commits, and only then answers 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from . import audit
from .db import Connection
from .incidents import advance_due_tiers, open_incident, resolve_incident
from .policy import Policy
from .render import Templates
from .webhook import Alert, Webhook


@dataclass(frozen=True)
class IngestResult:
    inbox_id: int
    new_alerts: int
    duplicate_alerts: int
    incidents: list[int]


def _upsert_alert(conn: Connection, alert: Alert) -> tuple[int, str | None]:
    """Return (alert id, previous status); previous status is None for a brand-new alert."""
    row = conn.execute(
        "INSERT INTO receiver_alerts (fingerprint, starts_at, ends_at, status, alertname,"
        " severity, labels, annotations) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id",
        (alert.fingerprint, alert.starts_at, alert.ends_at, alert.status, alert.name,
         alert.severity, Jsonb(alert.labels), Jsonb(alert.annotations))).fetchone()
    if row is not None:
        return int(row[0]), None
    # Exists (possibly inserted by a concurrent twin that has just committed): lock it.
    row = conn.execute(
        "SELECT id, status FROM receiver_alerts WHERE fingerprint = %s AND starts_at = %s"
        " FOR UPDATE", (alert.fingerprint, alert.starts_at)).fetchone()
    assert row is not None
    conn.execute("UPDATE receiver_alerts SET last_seen_at = now(),"
                 " receive_count = receive_count + 1 WHERE id = %s", (row[0],))
    return int(row[0]), str(row[1])


def _mark_resolved(conn: Connection, alert_id: int, alert: Alert, templates: Templates) -> None:
    conn.execute("UPDATE receiver_alerts SET status = 'resolved', ends_at = %s WHERE id = %s",
                 (alert.ends_at, alert_id))
    audit.record(conn, "alert.resolved", alert_id=alert_id, alertname=alert.name)
    row = conn.execute("SELECT id, level FROM receiver_incidents WHERE alert_id = %s FOR UPDATE",
                       (alert_id,)).fetchone()
    if row is not None:
        resolve_incident(conn, int(row[0]), alert, str(row[1]), templates)


def record_webhook(conn: Connection, hook: Webhook, policy: Policy, templates: Templates,
                   now: datetime) -> IngestResult:
    row = conn.execute(
        "INSERT INTO receiver_webhook_inbox (group_key, receiver, status, payload_sha256,"
        " alert_count, payload) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (hook.group_key, hook.receiver, hook.status, hook.sha256, len(hook.alerts),
         Jsonb(hook.document))).fetchone()
    assert row is not None
    inbox_id = int(row[0])
    new = duplicates = 0
    incidents: list[int] = []
    # A stable order keeps two concurrent deliveries of the same group from deadlocking.
    for alert in sorted(hook.alerts, key=lambda a: (a.fingerprint, a.starts_at)):
        alert_id, previous = _upsert_alert(conn, alert)
        if previous is None:
            new += 1
            audit.record(conn, f"alert.{alert.status}", alert_id=alert_id, inbox_id=inbox_id,
                         alertname=alert.name, severity=alert.severity)
            if alert.status == "firing":
                incidents.append(open_incident(conn, alert_id, alert, policy, templates, now))
        elif previous == "firing" and alert.status == "resolved":
            new += 1
            _mark_resolved(conn, alert_id, alert, templates)
        else:
            duplicates += 1
            if alert.status == "firing":
                advance_due_tiers(conn, alert_id, alert, policy, templates)
    conn.execute("UPDATE receiver_webhook_inbox SET new_alerts = %s, duplicate_alerts = %s"
                 " WHERE id = %s", (new, duplicates, inbox_id))
    audit.record(conn, "webhook.received", inbox_id=inbox_id, status=hook.status,
                 alerts=len(hook.alerts), new=new, duplicates=duplicates,
                 truncated=hook.truncated_alerts)
    return IngestResult(inbox_id, new, duplicates, incidents)
