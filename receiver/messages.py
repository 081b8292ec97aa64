"""Outbox messages for an incident: one page per person and channel covering all its alerts.

Rendered when enqueued, so the outbox holds the exact text that will be sent.
Alertmanager sends a group's alerts together; so do we: "3 alerts, worst: …".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .db import Connection
from .escalation import Recipient, emergency_level
from .lifecycle import Incident
from .links import LinkSigner
from .outbox import PRIORITY, RESOLVED_PRIORITY, Message, enqueue, enqueue_many
from .policy import Level, Policy
from .render import Templates
from .status import customer_message
from .webhook import Alert

if TYPE_CHECKING:
    from .settings import Settings

LISTED_ALERTS = 5  # alerts named in an email; the rest are counted


@dataclass(frozen=True)
class Escalation:
    """What every lifecycle step needs: the policy, its compiled templates, and whether
    pages carry a signed incident link and invite an "ACK <id>" reply."""

    policy: Policy
    templates: Templates
    links: LinkSigner | None = None
    reply_ack: bool = False


def escalation_for(settings: Settings) -> Escalation:
    links = None
    if settings.public_base_url is not None and settings.link_secret is not None:
        links = LinkSigner(settings.public_base_url, settings.link_secret.get_secret_value(),
                           settings.link_ttl_seconds)
    return Escalation(settings.policy, Templates(settings.policy.templates), links,
                      settings.sms_replies_enabled)


def _rank(alert: Alert, policy: Policy) -> tuple[int, str]:
    order = {"emergency": 0, "critical": 1, "warning": 2, "info": 3}
    # Peak hours do not matter for ordering; the base level does.
    return order[emergency_level(alert, alert.starts_at, policy)], alert.starts_at.isoformat()


def page_context(incident: Incident, alerts: list[Alert], policy: Policy) -> dict[str, Any]:
    """Template fields: the worst alert's fields, plus the count and a short list of all."""
    ordered = sorted(alerts, key=lambda a: _rank(a, policy))
    worst = ordered[0] if ordered else None
    ended = [a.ends_at for a in alerts if a.ends_at is not None]
    listed = [{"alertname": a.name, "severity": a.severity,
               "summary": a.annotations.get("summary", a.name)} for a in ordered[:LISTED_ALERTS]]
    return {
        "incident_id": incident.id, "level": incident.level,
        "wedding_day": incident.wedding_day, "alert_count": len(alerts),
        "alerts": listed, "more": max(0, len(alerts) - LISTED_ALERTS),
        "alertname": worst.name if worst else "unknown",
        "severity": worst.severity if worst else "",
        "summary": worst.annotations.get("summary", worst.name) if worst else "",
        "description": worst.annotations.get("description", "") if worst else "",
        "runbook_url": worst.annotations.get("runbook_url", "") if worst else "",
        "starts_at": min(a.starts_at for a in alerts).isoformat() if alerts else "",
        "ends_at": max(ended).isoformat() if ended else "",
    }


def render_message(templates: Templates, kind: str, channel: str,
                   context: dict[str, Any]) -> tuple[str | None, str]:
    """(subject, body) for one channel: email has both, SMS text, webhooks a JSON document."""
    if channel == "email":
        return (templates.render(f"{kind}_email_subject", context),
                templates.render(f"{kind}_email_body", context))
    text = templates.render(f"{kind}_sms", context)
    if channel == "webhook":
        return None, json.dumps({"kind": kind, **context, "text": text}, default=str)
    return None, text


def tier_recipients(policy: Policy, level: Level, tier: int) -> tuple[str, list[Recipient]]:
    """(tier name, everyone in it on the level's channels that they have an address for)."""
    spec = policy.tiers[tier - 1]
    found = []
    for name in spec.contacts:
        contact = policy.contact(name)
        for channel in policy.levels[level].channels:
            address = contact.address(channel)
            if address:
                found.append(Recipient(name, channel, address))
    return spec.name, found


def enqueue_tier(conn: Connection, ctx: Escalation, incident: Incident, tier: int,
                 alerts: list[Alert]) -> int:
    """Enqueue tier ``tier``'s pages; returns how many rows were new (dedup keys)."""
    if tier > len(ctx.policy.tiers):
        return 0
    tier_name, recipients = tier_recipients(ctx.policy, incident.level, tier)
    context = {**page_context(incident, alerts, ctx.policy), "tier": tier, "tier_name": tier_name,
               "reply_ack": ctx.reply_ack}
    messages = []
    now = time.time()
    for person in recipients:
        ack_url = ctx.links.url_for(incident.id, person.contact, now) if ctx.links else None
        subject, body = render_message(ctx.templates, "page", person.channel,
                                       {**context, "ack_url": ack_url or ""})
        messages.append(Message(
            f"{incident.id}:page:{tier}:{incident.level}:{person.contact}:{person.channel}",
            incident.id, "page", tier, person.channel, person.contact, person.address, subject,
            body, PRIORITY[incident.level], ctx.policy.delivery.max_age_seconds))
    return enqueue_many(conn, messages)


def enqueue_resolved(conn: Connection, ctx: Escalation, incident: Incident,
                     alerts: list[Alert]) -> int:
    """Tell everyone whose page was delivered (once per person and channel) that it is over."""
    paged = conn.execute(
        "SELECT DISTINCT recipient_key, channel, recipient FROM receiver_outbox"
        " WHERE incident_id = %s AND kind = 'page' AND status = 'sent'",
        (incident.id,)).fetchall()
    context = page_context(incident, alerts, ctx.policy)
    for who, channel, address in paged:
        subject, body = render_message(ctx.templates, "resolved", channel, context)
        enqueue(conn, Message(f"{incident.id}:resolved:0:{who}:{channel}", incident.id,
                              "resolved", 0, channel, who, address, subject, body,
                              RESOLVED_PRIORITY, ctx.policy.delivery.max_age_seconds))
    return len(paged)


def enqueue_vendors_resolved(conn: Connection, ctx: Escalation, incident: Incident) -> int:
    """A "fixed" message to every vendor whose problem message was delivered."""
    told = conn.execute(
        "SELECT DISTINCT recipient_key, channel, recipient, priority FROM receiver_outbox"
        " WHERE incident_id = %s AND kind = 'vendor' AND status = 'sent'",
        (incident.id,)).fetchall()
    for who, channel, address, priority in told:
        subject, body = render_message(ctx.templates, "vendor_resolved", channel, {})
        enqueue(conn, Message(f"{incident.id}:vendor_resolved:0:{who}:{channel}", incident.id,
                              "vendor_resolved", 0, channel, who, address, subject, body,
                              int(priority) + 100, ctx.policy.delivery.max_age_seconds))
    return len(told)


def enqueue_status_update(conn: Connection, ctx: Escalation, incident: Incident,
                          status: str) -> int:
    """The external status page hears that a customer-impacting incident began or ended.

    The body is the ``status_webhook`` template (customer words only, like ``/status``);
    a template that does not render JSON falls back to the packaged one.
    """
    page = ctx.policy.status_page
    if page.webhook_url is None:
        return 0
    row = conn.execute(
        "SELECT a.alertname, a.annotations->>'customer_message' FROM receiver_incidents i"
        " JOIN receiver_alerts a ON a.id = i.alert_id WHERE i.id = %s", (incident.id,)).fetchone()
    alertname, annotation = row if row else ("", None)
    context = {"incident_id": incident.id, "status": status,
               "component_status": "major_outage" if status == "disrupted" else "operational",
               "message": customer_message(alertname, annotation, page), "title": page.title}
    body = ctx.templates.render_json("status_webhook", context)
    return int(enqueue(conn, Message(
        f"{incident.id}:status:0:{status}", incident.id, "status", 0, "webhook", "status_page",
        page.webhook_url, None, body, PRIORITY["warning"],
        ctx.policy.delivery.max_age_seconds)))
