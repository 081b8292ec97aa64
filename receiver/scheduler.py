"""Due escalation steps → outbox rows. Runs inside the worker, one step per transaction.

A tier step pages its tier unless the incident was acknowledged or resolved in
the meantime; a vendor step reads today's vendors and enqueues their messages,
and is retried with backoff when the vendor source cannot be read.
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from . import audit, db
from .escalation import retry_delay
from .incidents import escalate_tier_step, finish_step, load_alert
from .render import Templates
from .settings import Settings
from .vendors import enqueue_vendor_messages, fetch_vendors

log = logging.getLogger(__name__)

_CLAIM = """
SELECT s.id, s.incident_id, s.kind, s.tier, s.attempts, i.state, i.level, i.alert_id
  FROM receiver_escalation_steps s JOIN receiver_incidents i ON i.id = s.incident_id
 WHERE s.status = 'pending' AND s.due_at <= now()
 ORDER BY s.due_at, s.id LIMIT 1 FOR UPDATE OF s SKIP LOCKED"""


def run_due_step(settings: Settings, templates: Templates, now: datetime) -> bool:
    """Process one due step; False when none is due."""
    policy = settings.policy
    with db.transaction() as conn:
        row = conn.execute(_CLAIM).fetchone()
        if row is None:
            return False
        step_id, incident_id, kind, tier_number, attempts, state, level, alert_id = row
        alert = load_alert(conn, alert_id)
        if kind == "tier":
            escalate_tier_step(conn, step_id, incident_id, tier_number, state, level, alert,
                               policy, templates)
            return True
        if state == "resolved":
            finish_step(conn, step_id, "cancelled")
            return True
        local_date = now.astimezone(policy.zone).date()
        try:
            vendors = fetch_vendors(settings.vendor_dsn, policy, local_date)
        except psycopg.Error as exc:
            delay = retry_delay(attempts + 1, policy.delivery.retry_base_seconds,
                                policy.delivery.retry_max_seconds)
            conn.execute("UPDATE receiver_escalation_steps SET attempts = attempts + 1,"
                         " last_error = %s, due_at = now() + make_interval(secs => %s)"
                         " WHERE id = %s", (type(exc).__name__, delay, step_id))
            log.warning("incident %s: vendor source unavailable (%s), retry in %.0fs",
                        incident_id, type(exc).__name__, delay)
            return True
        notified, limited = enqueue_vendor_messages(conn, templates, policy, incident_id,
                                                    alert, vendors)
        finish_step(conn, step_id, "done")
        audit.record(conn, "escalation.vendors", incident_id=incident_id,
                     vendors_found=len(vendors), notified=notified, rate_limited=limited)
        log.info("incident %s: %s vendors notified, %s rate-limited", incident_id, notified,
                 limited)
        return True
