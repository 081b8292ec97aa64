"""Telling the couples of the day, where the policy enables it (``couples``).

One message when a customer-impacting incident has lasted ``couples.after_seconds``
on a wedding day, one when it is fixed, and never more than that pair per couple
and local date: the outbox dedup key carries the date, not the incident, so a
second incident the same day finds the couple already told and says nothing more.
Contacts come from the couple roster (live query first, the snapshot when WedSync
is down), as for vendors; the templates get the couple's names and ceremony time
and the alert's customer words, never alert names, hosts or labels.
"""

from __future__ import annotations

from datetime import date

from .db import Connection
from .messages import Escalation
from .outbox import VENDOR_PRIORITY, Message, enqueue
from .render import GENERIC_CUSTOMER_MESSAGE
from .vendors import Vendor
from .webhook import Alert


def _key(couple: Vendor) -> str:
    return f"couple-{couple.vendor_id}"


def enqueue_couple_messages(conn: Connection, ctx: Escalation, incident_id: int, alert: Alert,
                            couples: list[Vendor], local_date: date) -> tuple[int, int]:
    """One message per couple and channel; returns (couples told now, told earlier today)."""
    told = already = 0
    message = alert.annotations.get("customer_message", GENERIC_CUSTOMER_MESSAGE)
    for rank, couple in enumerate(couples):
        context = {"couple_names": couple.name or "there", "customer_message": message,
                   "ceremony_time": couple.ceremony_time.strftime("%H:%M")
                   if couple.ceremony_time else "today"}
        new = False
        for channel in ctx.policy.couples.channels:
            address = couple.phone if channel == "sms" else couple.email
            if not address:
                continue
            subject = (ctx.templates.render("couple_email_subject", context)
                       if channel == "email" else None)
            body = ctx.templates.render("couple_email_body" if channel == "email"
                                        else "couple_sms", context)
            new |= enqueue(conn, Message(
                f"couple:{local_date.isoformat()}:{_key(couple)}:{channel}", incident_id,
                "couple", 0, channel, _key(couple), address, subject, body,
                VENDOR_PRIORITY + 1000 + rank, ctx.policy.delivery.max_age_seconds))
        if new:
            told += 1
        else:
            already += 1
    return told, already


def enqueue_couples_resolved(conn: Connection, ctx: Escalation, incident_id: int) -> int:
    """A "fixed" message to each couple this incident's message reached."""
    rows = conn.execute(
        "SELECT dedup_key, recipient_key, channel, recipient, priority FROM receiver_outbox"
        " WHERE incident_id = %s AND kind = 'couple' AND status = 'sent'",
        (incident_id,)).fetchall()
    for dedup_key, who, channel, address, priority in rows:
        subject = (ctx.templates.render("couple_resolved_email_subject", {})
                   if channel == "email" else None)
        body = ctx.templates.render("couple_resolved_email_body" if channel == "email"
                                    else "couple_resolved_sms", {})
        enqueue(conn, Message(str(dedup_key).replace("couple:", "couple_resolved:", 1),
                              incident_id, "couple_resolved", 0, channel, who, address, subject,
                              body, int(priority), ctx.policy.delivery.max_age_seconds))
    return len(rows)
