"""Incident lifecycle in SQL: open (page tier 1, schedule the rest), page a tier, resolve, ack.

Every function runs inside the caller's transaction, so a webhook's inbox row,
alert rows, incidents and outbox rows commit (or vanish) together.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from . import audit
from .db import Connection
from .escalation import PlannedTier, emergency_level, page_key, plan_tiers
from .outbox import Message, enqueue
from .policy import Level, Policy
from .render import Templates
from .webhook import Alert

log = logging.getLogger(__name__)


def template_context(alert: Alert, incident_id: int, level: str) -> dict[str, Any]:
    return {
        "incident_id": incident_id, "level": level, "alertname": alert.name,
        "severity": alert.severity, "wedding_day": alert.wedding_day,
        "summary": alert.annotations.get("summary", alert.name),
        "description": alert.annotations.get("description", ""),
        "runbook_url": alert.annotations.get("runbook_url", ""),
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else "",
    }


def render_message(templates: Templates, kind: str, channel: str,
                   context: dict[str, Any]) -> tuple[str | None, str]:
    """(subject, body) for one channel: email has both, SMS text, webhooks a JSON document."""
    if channel == "email":
        return (templates.render(f"{kind}_email_subject", context),
                templates.render(f"{kind}_email_body", context))
    text = templates.render(f"{kind}_sms", context)
    if channel == "webhook":
        return None, json.dumps({"kind": kind, **context, "text": text})
    return None, text


def enqueue_tier(conn: Connection, templates: Templates, incident_id: int, level: str,
                 alert: Alert, tier: PlannedTier) -> int:
    """Render and enqueue tier ``tier`` for everyone in it; returns how many rows were new."""
    context = {**template_context(alert, incident_id, level),
               "tier": tier.number, "tier_name": tier.name}
    new = 0
    for person in tier.recipients:
        subject, body = render_message(templates, "page", person.channel, context)
        new += enqueue(conn, Message(
            page_key(incident_id, "page", tier.number, person.contact, person.channel),
            incident_id, "page", tier.number, person.channel, person.contact, person.address,
            subject, body))
    return new


def finish_step(conn: Connection, step_id: int, status: str) -> None:
    conn.execute("UPDATE receiver_escalation_steps SET status = %s, done_at = now()"
                 " WHERE id = %s", (status, step_id))


def escalate_tier_step(conn: Connection, step_id: int, incident_id: int, tier_number: int,
                       state: str, level: Level, alert: Alert, policy: Policy,
                       templates: Templates) -> int:
    """Page a due tier (the caller holds the step's row lock) unless the incident is no longer open."""
    if state != "open":
        finish_step(conn, step_id, "cancelled")
        return 0
    tiers = {t.number: t for t in plan_tiers(alert, level, policy)}
    new = 0
    if tier_number in tiers:
        new = enqueue_tier(conn, templates, incident_id, level, alert, tiers[tier_number])
    finish_step(conn, step_id, "done")
    audit.record(conn, "escalation.tier", incident_id=incident_id, tier=tier_number,
                 messages=new)
    log.info("incident %s escalated to tier %s (%s messages)", incident_id, tier_number, new)
    return new


def advance_due_tiers(conn: Connection, alert_id: int, alert: Alert, policy: Policy,
                      templates: Templates) -> int:
    """A repeat of a still-firing alert pages any tier already due (never early, never twice)."""
    rows = conn.execute(
        "SELECT s.id, s.incident_id, s.tier, i.state, i.level FROM receiver_escalation_steps s"
        " JOIN receiver_incidents i ON i.id = s.incident_id WHERE i.alert_id = %s"
        " AND s.kind = 'tier' AND s.status = 'pending' AND s.due_at <= now()"
        " ORDER BY s.tier FOR UPDATE OF s SKIP LOCKED", (alert_id,)).fetchall()
    return sum(escalate_tier_step(conn, step_id, incident_id, tier, state, level, alert, policy,
                                  templates)
               for step_id, incident_id, tier, state, level in rows)


def open_incident(conn: Connection, alert_id: int, alert: Alert, policy: Policy,
                  templates: Templates, now: datetime) -> int:
    """Create the incident for a new firing alert, page the immediate tiers, schedule the rest."""
    level = emergency_level(alert, now, policy)
    row = conn.execute(
        "INSERT INTO receiver_incidents (alert_id, level, wedding_day, customer_impact)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (alert_id, level, alert.wedding_day, alert.customer_impact)).fetchone()
    assert row is not None
    incident_id = int(row[0])
    audit.record(conn, "incident.opened", incident_id=incident_id, alert_id=alert_id,
                 level=level, wedding_day=alert.wedding_day, alertname=alert.name)
    for tier in plan_tiers(alert, level, policy):
        if tier.delay_seconds <= 0:
            enqueue_tier(conn, templates, incident_id, level, alert, tier)
        else:
            conn.execute(
                "INSERT INTO receiver_escalation_steps (incident_id, kind, tier, due_at)"
                " VALUES (%s, 'tier', %s, %s)",
                (incident_id, tier.number, now + timedelta(seconds=tier.delay_seconds)))
    if alert.customer_impact and alert.wedding_day and policy.vendors.enabled:
        conn.execute(
            "INSERT INTO receiver_escalation_steps (incident_id, kind, tier, due_at)"
            " VALUES (%s, 'vendors', 0, %s)", (incident_id, now))
    return incident_id


def _stop_escalation(conn: Connection, incident_id: int, *, vendors_too: bool) -> tuple[int, int]:
    # An ack stops paging our people; vendors are still affected, so only resolution stops them.
    kinds = ["tier", "vendors"] if vendors_too else ["tier"]
    steps = conn.execute(
        "UPDATE receiver_escalation_steps SET status = 'cancelled', done_at = now()"
        " WHERE incident_id = %s AND status = 'pending' AND kind = ANY(%s)", (incident_id, kinds))
    # Waits for a worker that is sending one of these right now; it is then 'sent', not pending.
    pages = conn.execute(
        "UPDATE receiver_outbox SET status = 'cancelled' WHERE incident_id = %s"
        " AND status = 'pending' AND kind = 'page'", (incident_id,))
    return steps.rowcount, pages.rowcount


def resolve_incident(conn: Connection, incident_id: int, alert: Alert, level: str,
                     templates: Templates) -> None:
    """Stop escalation and tell everyone who was actually paged that it is over."""
    conn.execute("UPDATE receiver_incidents SET state = 'resolved', resolved_at = now()"
                 " WHERE id = %s", (incident_id,))
    steps, pages = _stop_escalation(conn, incident_id, vendors_too=True)
    context = template_context(alert, incident_id, level)
    paged = conn.execute(
        "SELECT DISTINCT recipient_key, channel, recipient FROM receiver_outbox"
        " WHERE incident_id = %s AND kind = 'page' AND status = 'sent'", (incident_id,)).fetchall()
    for who, channel, address in paged:
        subject, body = render_message(templates, "resolved", channel, context)
        enqueue(conn, Message(page_key(incident_id, "resolved", 0, who, channel), incident_id,
                              "resolved", 0, channel, who, address, subject, body))
    audit.record(conn, "incident.resolved", incident_id=incident_id, cancelled_steps=steps,
                 cancelled_pages=pages, resolved_messages=len(paged))


def acknowledge(conn: Connection, incident_id: int, by: str) -> dict[str, Any] | None:
    """Mark the incident acknowledged and cancel what has not been sent; None if unknown."""
    row = conn.execute("SELECT state FROM receiver_incidents WHERE id = %s FOR UPDATE",
                       (incident_id,)).fetchone()
    if row is None:
        return None
    state = row[0]
    steps = pages = 0
    if state == "open":
        conn.execute("UPDATE receiver_incidents SET state = 'acknowledged',"
                     " acknowledged_at = now(), acknowledged_by = %s WHERE id = %s",
                     (by, incident_id))
        steps, pages = _stop_escalation(conn, incident_id, vendors_too=False)
        state = "acknowledged"
    audit.record(conn, "incident.acknowledged", incident_id=incident_id, by=by,
                 cancelled_steps=steps, cancelled_pages=pages)
    return {"incident_id": incident_id, "state": state, "cancelled_steps": steps,
            "cancelled_pages": pages}


def load_alert(conn: Connection, alert_id: int) -> Alert:
    row = conn.execute(
        "SELECT status, fingerprint, starts_at, ends_at, labels, annotations"
        " FROM receiver_alerts WHERE id = %s", (alert_id,)).fetchone()
    assert row is not None
    return Alert(status=row[0], fingerprint=row[1], starts_at=row[2], ends_at=row[3],
                 labels=row[4], annotations=row[5])
