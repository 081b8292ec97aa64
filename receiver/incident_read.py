"""Reading incidents for people: the API, the phone page, the report, the status page.

Read-only SQL that turns rows into ``timeline.IncidentView``; every decision about
what to show lives in ``timeline`` and ``status``.
"""

from __future__ import annotations

from typing import Any

from .db import Connection
from .timeline import AuditRow, IncidentView, PageRow, PendingStep

_INCIDENT = (
    "SELECT i.id, i.state, i.level, i.wedding_day, i.customer_impact, a.alertname,"
    " coalesce(a.annotations->>'summary', a.alertname), i.alert_count, i.opened_at,"
    " i.acknowledged_at, i.acknowledged_by, i.resolved_at"
    " FROM receiver_incidents i JOIN receiver_alerts a ON a.id = i.alert_id")


def _view(row: tuple[Any, ...]) -> IncidentView:
    return IncidentView(*row)


def load_view(conn: Connection, incident_id: int) -> IncidentView | None:
    row = conn.execute(_INCIDENT + " WHERE i.id = %s", (incident_id,)).fetchone()
    if row is None:
        return None
    view = _view(row)
    view.events.extend(AuditRow(at, event, detail) for at, event, detail in conn.execute(
        "SELECT at, event, detail FROM receiver_audit_events WHERE incident_id = %s"
        " ORDER BY at, id", (incident_id,)))
    view.pages.extend(PageRow(*r) for r in conn.execute(
        "SELECT kind, tier, channel, recipient_key, status, created_at, sent_at"
        " FROM receiver_outbox WHERE incident_id = %s ORDER BY id", (incident_id,)))
    view.pending.extend(PendingStep(*r) for r in conn.execute(
        "SELECT kind, tier, due_at FROM receiver_escalation_steps"
        " WHERE incident_id = %s AND status = 'pending' ORDER BY due_at", (incident_id,)))
    return view


def list_views(conn: Connection, *, state: str | None, limit: int) -> list[IncidentView]:
    """Newest first; ``state`` "open", "acknowledged", "resolved" or "live" (not resolved)."""
    where, params = "", []
    if state == "live":
        where = " WHERE i.state <> 'resolved'"
    elif state is not None:
        where, params = " WHERE i.state = %s", [state]
    rows = conn.execute(_INCIDENT + where + " ORDER BY i.id DESC LIMIT %s",
                        (*params, limit)).fetchall()
    return [_view(r) for r in rows]


def status_rows(conn: Connection, resolved_within_seconds: float) -> list[tuple[Any, ...]]:
    """Customer-impacting incidents that are live, or resolved within the window:
    (id, state, alertname, customer_message annotation, opened_at, resolved_at)."""
    return conn.execute(
        "SELECT i.id, i.state, a.alertname, a.annotations->>'customer_message', i.opened_at,"
        " i.resolved_at FROM receiver_incidents i JOIN receiver_alerts a ON a.id = i.alert_id"
        " WHERE i.customer_impact AND (i.state <> 'resolved'"
        " OR i.resolved_at > now() - make_interval(secs => %s::float8))"
        " ORDER BY i.opened_at DESC LIMIT 50", (resolved_within_seconds,)).fetchall()


def paged_contact(conn: Connection, contact: str, incident_id: int | None) -> int | None:
    """The incident ``contact`` was paged for: ``incident_id`` if they were, or (None)
    their latest page's incident; None when they were not paged."""
    if incident_id is not None:
        row = conn.execute(
            "SELECT incident_id FROM receiver_outbox WHERE kind = 'page' AND recipient_key = %s"
            " AND incident_id = %s LIMIT 1", (contact, incident_id)).fetchone()
    else:
        row = conn.execute(
            "SELECT incident_id FROM receiver_outbox WHERE kind = 'page' AND recipient_key = %s"
            " ORDER BY created_at DESC, id DESC LIMIT 1", (contact,)).fetchone()
    return int(row[0]) if row else None
