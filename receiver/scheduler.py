"""Due escalation steps → outbox rows. Runs inside the worker, one step per transaction.

A tier step pages its tier unless the incident was acknowledged or resolved in
the meantime; a vendor step tells today's vendors (from the live WedSync
database, or the roster snapshot when that is down). Each step runs in a
savepoint: a step that fails (a broken template, odd data, a bug) is rolled
back alone, backed off and recorded, and the steps behind it go on.
"""

from __future__ import annotations

import logging
from datetime import date

import psycopg

from . import audit, roster
from .couples import enqueue_couple_messages
from .db import Connection, ReceiverDB
from .delivery import backoff
from .errors import DatabaseUnavailable
from .incidents import load_incident, member_alerts, run_tier_step
from .messages import Escalation
from .roster_query import COUPLES
from .settings import Settings
from .vendors import enqueue_vendor_messages

log = logging.getLogger(__name__)

_CLAIM = """
SELECT s.id, s.incident_id, s.kind, s.tier, s.attempts, now()
  FROM receiver_escalation_steps s
 WHERE s.status = 'pending' AND s.due_at <= now()
 ORDER BY s.due_at, s.id LIMIT 1 FOR UPDATE SKIP LOCKED"""


def _back_off(conn: Connection, step_id: int, attempts: int, settings: Settings,
              error: str) -> float:
    delay = backoff(attempts + 1, settings.policy.delivery)
    conn.execute("UPDATE receiver_escalation_steps SET attempts = attempts + 1,"
                 " last_error = %s, last_failed_at = now(),"
                 " due_at = now() + make_interval(secs => %s::float8) WHERE id = %s",
                 (error, delay, step_id))
    return delay


def _vendor_step(conn: Connection, ctx: Escalation, settings: Settings, step_id: int,
                 incident_id: int, attempts: int, local_date: object) -> None:
    incident = load_incident(conn, incident_id)
    assert incident is not None
    if incident.state == "resolved":
        conn.execute("UPDATE receiver_escalation_steps SET status = 'cancelled', done_at = now()"
                     " WHERE id = %s", (step_id,))
        return
    try:
        vendors, source = roster.vendors_for(conn, settings.vendor_dsn, ctx.policy,
                                             local_date)  # type: ignore[arg-type]
    except roster.RosterUnavailable as exc:
        delay = _back_off(conn, step_id, attempts, settings, type(exc).__name__)
        log.warning("incident %s: no vendor list (live source down, no snapshot), retry in %.0fs",
                    incident_id, delay)
        return
    alerts = member_alerts(conn, incident_id, firing_only=False)
    customer = next((a for a in alerts if a.customer_impact), alerts[0])
    notified, limited = enqueue_vendor_messages(conn, ctx.templates, ctx.policy, incident_id,
                                                customer, vendors)
    conn.execute("UPDATE receiver_escalation_steps SET status = 'done', done_at = now()"
                 " WHERE id = %s", (step_id,))
    audit.record(conn, "escalation.vendors", incident_id=incident_id, vendors_found=len(vendors),
                 notified=notified, rate_limited=limited, source=source)
    log.info("incident %s: %s vendors notified (%s list), %s rate-limited", incident_id,
             notified, source, limited)


def _couple_step(conn: Connection, ctx: Escalation, settings: Settings, step_id: int,
                 incident_id: int, attempts: int, local_date: date) -> None:
    incident = load_incident(conn, incident_id)
    assert incident is not None
    if incident.state == "resolved":  # fixed before it lasted long enough: nobody is told
        conn.execute("UPDATE receiver_escalation_steps SET status = 'cancelled', done_at = now()"
                     " WHERE id = %s", (step_id,))
        return
    try:
        couples, source = roster.vendors_for(conn, settings.vendor_dsn, ctx.policy, local_date,
                                             COUPLES)
    except roster.RosterUnavailable as exc:
        delay = _back_off(conn, step_id, attempts, settings, type(exc).__name__)
        log.warning("incident %s: no couple list (live source down, no snapshot), retry in %.0fs",
                    incident_id, delay)
        return
    alerts = member_alerts(conn, incident_id, firing_only=False)
    customer = next((a for a in alerts if a.customer_impact), alerts[0])
    told, already = enqueue_couple_messages(conn, ctx, incident_id, customer, couples,
                                            local_date)
    conn.execute("UPDATE receiver_escalation_steps SET status = 'done', done_at = now()"
                 " WHERE id = %s", (step_id,))
    audit.record(conn, "escalation.couples", incident_id=incident_id, couples_found=len(couples),
                 notified=told, already_told_today=already, source=source)
    log.info("incident %s: %s couples told (%s list), %s already told today", incident_id,
             told, source, already)


def run_due_step(db: ReceiverDB, ctx: Escalation, settings: Settings) -> bool:
    """Process one due step; False when none is due."""
    with db.transaction() as conn:
        row = conn.execute(_CLAIM).fetchone()
        if row is None:
            return False
        step_id, incident_id, kind, tier, attempts, now = row
        try:
            with conn.transaction():  # a savepoint: a failing step undoes only its own work
                local_date = now.astimezone(ctx.policy.zone).date()
                if kind == "tier":
                    run_tier_step(conn, ctx, step_id, incident_id, tier)
                elif kind == "couples":
                    _couple_step(conn, ctx, settings, step_id, incident_id, attempts, local_date)
                else:
                    _vendor_step(conn, ctx, settings, step_id, incident_id, attempts, local_date)
        except (DatabaseUnavailable, psycopg.OperationalError):
            raise
        except Exception as exc:  # the step's own fault: back off, record, go on
            delay = _back_off(conn, step_id, attempts, settings, type(exc).__name__)
            audit.record(conn, "escalation.step_failed", incident_id=incident_id, kind=kind,
                         tier=tier, error=type(exc).__name__, retry_in_seconds=round(delay, 1))
            log.error("incident %s: %s step failed (%s), retry in %.0fs", incident_id, kind,
                      type(exc).__name__, delay)
        return True
