"""Incidents in SQL: load them, and execute the actions that ``lifecycle`` decides.

Every function runs inside the caller's transaction, so a webhook's inbox row,
alert rows, incidents and outbox rows commit (or vanish) together. Nothing here
decides what should happen; it only does what the pure decisions said.
"""

from __future__ import annotations

import logging
from typing import Any

from . import audit, lifecycle
from .couples import enqueue_couples_resolved
from .db import Connection
from .lifecycle import Action, Incident
from .messages import (
    Escalation,
    enqueue_resolved,
    enqueue_status_update,
    enqueue_tier,
    enqueue_vendors_resolved,
)
from .webhook import Alert

log = logging.getLogger(__name__)

_INCIDENT = ("SELECT id, state, level, wedding_day, customer_impact FROM receiver_incidents"
             " WHERE id = %s")


def load_incident(conn: Connection, incident_id: int, *, lock: bool = True) -> Incident | None:
    row = conn.execute(_INCIDENT + (" FOR UPDATE" if lock else ""), (incident_id,)).fetchone()
    return Incident(*row) if row else None


def member_alerts(conn: Connection, incident_id: int, *, firing_only: bool) -> list[Alert]:
    rows = conn.execute(
        "SELECT a.status, a.fingerprint, a.starts_at, a.ends_at, a.labels, a.annotations"
        " FROM receiver_incident_alerts m JOIN receiver_alerts a ON a.id = m.alert_id"
        " WHERE m.incident_id = %s" + (" AND a.status = 'firing'" if firing_only else "") +
        " ORDER BY a.starts_at, a.id", (incident_id,)).fetchall()
    return [Alert(status=r[0], fingerprint=r[1], starts_at=r[2], ends_at=r[3], labels=r[4],
                  annotations=r[5]) for r in rows]


def _cancel(conn: Connection, incident_id: int, kinds: tuple[str, ...]) -> tuple[int, int]:
    steps = conn.execute(
        "UPDATE receiver_escalation_steps SET status = 'cancelled', done_at = now()"
        " WHERE incident_id = %s AND status = 'pending' AND kind = ANY(%s)",
        (incident_id, list(kinds)))
    # Rows already claimed ('sending') finish; what is only waiting is cancelled.
    message_kinds = (["page"] if "tier" in kinds else []) + (["vendor"] if "vendors" in kinds
                                                             else [])
    messages = conn.execute(
        "UPDATE receiver_outbox SET status = 'cancelled' WHERE incident_id = %s"
        " AND status = 'pending' AND kind = ANY(%s)", (incident_id, message_kinds))
    return steps.rowcount, messages.rowcount


def _set_state(conn: Connection, incident_id: int, action: lifecycle.SetState) -> None:
    stamp = {"acknowledged": ", acknowledged_at = now(), acknowledged_by = %(by)s",
             "resolved": ", resolved_at = now()", "open": ""}[action.state]
    conn.execute("UPDATE receiver_incidents SET state = %(state)s" + stamp + " WHERE id = %(id)s",
                 {"state": action.state, "by": action.by, "id": incident_id})


def apply(conn: Connection, ctx: Escalation, incident: Incident, actions: list[Action], *,
          step_id: int | None = None, firing: list[Alert] | None = None) -> dict[str, int]:
    """Execute ``actions`` for ``incident`` in order; returns counts for the audit trail.

    ``firing``: the incident's firing alerts when the caller already has them (a new
    incident), which saves reading them back on the webhook's hot path.
    """
    done: dict[str, int] = {}
    scheduled: list[lifecycle.ScheduleTier] = []  # written together at the end: one round trip

    def count(key: str, n: int = 1) -> None:
        done[key] = done.get(key, 0) + n

    for action in actions:
        if isinstance(action, lifecycle.SetState):
            _set_state(conn, incident.id, action)
            incident = Incident(incident.id, action.state, incident.level, incident.wedding_day,
                                incident.customer_impact)
        elif isinstance(action, lifecycle.RaiseLevel):
            conn.execute("UPDATE receiver_incidents SET level = %s WHERE id = %s",
                         (action.level, incident.id))
            incident = Incident(incident.id, incident.state, action.level, incident.wedding_day,
                                incident.customer_impact)
            count("level_raised")
        elif isinstance(action, lifecycle.PageTier):
            alerts = firing if firing is not None else member_alerts(conn, incident.id,
                                                                     firing_only=True)
            count("messages", enqueue_tier(conn, ctx, incident, action.tier, alerts))
            count("tiers_paged")
        elif isinstance(action, lifecycle.ScheduleTier):
            scheduled.append(action)
        elif isinstance(action, lifecycle.ScheduleVendors):
            conn.execute(
                "INSERT INTO receiver_escalation_steps (incident_id, kind, tier, due_at)"
                " VALUES (%s, 'vendors', 0, %s) ON CONFLICT (incident_id, kind, tier) DO NOTHING",
                (incident.id, action.due_at))
        elif isinstance(action, lifecycle.CancelPending):
            steps, messages = _cancel(conn, incident.id, action.step_kinds)
            count("cancelled_steps", steps)
            count("cancelled_messages", messages)
        elif isinstance(action, lifecycle.FinishStep):
            assert step_id is not None, "FinishStep outside a step"
            conn.execute("UPDATE receiver_escalation_steps SET status = %s, done_at = now()"
                         " WHERE id = %s", (action.status, step_id))
        elif isinstance(action, lifecycle.TellPagedResolved):
            alerts = member_alerts(conn, incident.id, firing_only=False)
            count("resolved_messages", enqueue_resolved(conn, ctx, incident, alerts))
        elif isinstance(action, lifecycle.TellVendorsResolved):
            count("vendor_resolved_messages", enqueue_vendors_resolved(conn, ctx, incident))
        elif isinstance(action, lifecycle.BringNextTierForward):
            cur = conn.execute(
                "UPDATE receiver_escalation_steps SET due_at = now() WHERE incident_id = %s"
                " AND kind = 'tier' AND status = 'pending' AND tier = %s",
                (incident.id, action.after_tier + 1))
            audit.record(conn, "escalation.brought_forward", incident_id=incident.id,
                         unreachable_tier=action.after_tier)
            log.warning("incident %s: nobody in tier %s could be reached; next tier now",
                        incident.id, action.after_tier)
            count("brought_forward", cur.rowcount)
        elif isinstance(action, lifecycle.ScheduleCouples):
            conn.execute(
                "INSERT INTO receiver_escalation_steps (incident_id, kind, tier, due_at)"
                " VALUES (%s, 'couples', 0, %s) ON CONFLICT (incident_id, kind, tier) DO NOTHING",
                (incident.id, action.due_at))
        elif isinstance(action, lifecycle.TellCouplesResolved):
            count("couple_resolved_messages", enqueue_couples_resolved(conn, ctx, incident.id))
        elif isinstance(action, lifecycle.UpdateStatusPage):
            count("status_page_updates", enqueue_status_update(conn, ctx, incident,
                                                               action.status))
        elif isinstance(action, lifecycle.NobodyReached):
            audit.record(conn, "escalation.nobody_reached", incident_id=incident.id,
                         tier=action.tier)
            log.error("incident %s: nobody could be reached, last tier %s unreachable",
                      incident.id, action.tier)
            count("nobody_reached")
    if scheduled:
        # Re-arms a cancelled or done step when a worse level restarts the plan (the
        # CancelPending before it has already run).
        conn.execute(
            "INSERT INTO receiver_escalation_steps (incident_id, kind, tier, due_at)"
            " SELECT %s, 'tier', t, d FROM unnest(%s::int[], %s::timestamptz[]) AS s(t, d)"
            " ON CONFLICT (incident_id, kind, tier) DO UPDATE"
            " SET status = 'pending', due_at = EXCLUDED.due_at, done_at = NULL",
            (incident.id, [a.tier for a in scheduled], [a.due_at for a in scheduled]))
    return done


def acknowledge(conn: Connection, ctx: Escalation, incident_id: int,
                by: str) -> dict[str, Any] | None:
    """Acknowledge (idempotent); None if there is no such incident."""
    incident = load_incident(conn, incident_id)
    if incident is None:
        return None
    done = apply(conn, ctx, incident, lifecycle.on_ack(incident, by))
    state = "acknowledged" if incident.state == "open" else incident.state
    audit.record(conn, "incident.acknowledged", incident_id=incident_id, by=by, **done)
    return {"incident_id": incident_id, "state": state,
            "cancelled_steps": done.get("cancelled_steps", 0),
            "cancelled_pages": done.get("cancelled_messages", 0)}


def run_tier_step(conn: Connection, ctx: Escalation, step_id: int, incident_id: int,
                  tier: int) -> dict[str, int]:
    """A due tier step (the caller holds its row lock)."""
    incident = load_incident(conn, incident_id)
    assert incident is not None
    done = apply(conn, ctx, incident, lifecycle.on_tier_due(incident, tier, ctx.policy),
                 step_id=step_id)
    if done.get("tiers_paged"):
        audit.record(conn, "escalation.tier", incident_id=incident_id, tier=tier,
                     messages=done.get("messages", 0))
        log.info("incident %s escalated to tier %s (%s messages)", incident_id, tier,
                 done.get("messages", 0))
    return done


def advance_due_tiers(conn: Connection, ctx: Escalation, incident_id: int) -> int:
    """A repeat of a still-firing group pages any tier already due (never early, never twice)."""
    rows = conn.execute(
        "SELECT id, tier FROM receiver_escalation_steps WHERE incident_id = %s AND kind = 'tier'"
        " AND status = 'pending' AND due_at <= now() ORDER BY tier FOR UPDATE SKIP LOCKED",
        (incident_id,)).fetchall()
    return sum(run_tier_step(conn, ctx, step_id, incident_id, tier).get("messages", 0)
               for step_id, tier in rows)


def check_tier_reachable(conn: Connection, ctx: Escalation, incident_id: int,
                         tier: int) -> None:
    """After a page died or failed through our fault: is anybody in its tier still reachable?"""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'sent'),"
        " count(*) FILTER (WHERE status IN ('pending', 'sending') AND NOT config_fault)"
        " FROM receiver_outbox WHERE incident_id = %s AND kind = 'page' AND tier = %s",
        (incident_id, tier)).fetchone()
    assert row is not None
    if row[0] or row[1]:
        return
    incident = load_incident(conn, incident_id)
    if incident is None:
        return
    # The next tier's step; a tier paged at once (no delay) has pages but no step.
    following = conn.execute(
        "SELECT coalesce((SELECT status FROM receiver_escalation_steps WHERE incident_id = %(i)s"
        " AND kind = 'tier' AND tier = %(t)s), (SELECT 'done' FROM receiver_outbox WHERE"
        " incident_id = %(i)s AND kind = 'page' AND tier = %(t)s LIMIT 1))",
        {"i": incident_id, "t": tier + 1}).fetchone()
    apply(conn, ctx, incident, lifecycle.on_tier_unreachable(
        incident, tier, following[0] if following else None))
