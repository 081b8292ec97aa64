"""Record one Alertmanager webhook: inbox row, alert upserts, incidents and first pages, atomically.

Alert identity is fingerprint + startsAt; an incident is one Alertmanager group
(``groupKey``) from its first firing alert until all its alerts resolved. New
firing alerts open the group's incident or join it; repeats (HA twins, retries,
``repeat_interval``) only bump counters and page tiers already due; when the
last firing alert of an incident resolves, the incident resolves. The caller
commits, and only then answers 200.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from psycopg.types.json import Jsonb

from . import audit, lifecycle
from .db import Connection
from .escalation import emergency_level
from .incidents import advance_due_tiers, apply, load_incident
from .lifecycle import Incident
from .messages import Escalation
from .policy import Level
from .webhook import Alert, Webhook


@dataclass(frozen=True)
class IngestResult:
    inbox_id: int
    new_alerts: int
    duplicate_alerts: int
    incidents: list[int]


@dataclass
class _Group:
    new_firing: list[tuple[int, Alert]] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


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


def _live_incident(conn: Connection, group_key: str) -> Incident | None:
    row = conn.execute("SELECT id FROM receiver_incidents WHERE group_key = %s"
                       " AND state <> 'resolved' FOR UPDATE", (group_key,)).fetchone()
    return load_incident(conn, int(row[0])) if row else None


def _join(conn: Connection, ctx: Escalation, group_key: str, alerts: list[tuple[int, Alert]],
          now: datetime, trail: audit.Trail) -> int:
    """Open the group's incident with these new firing alerts, or add them to the live one."""
    level: Level = "info"
    for _alert_id, alert in alerts:
        level = lifecycle.worse(level, emergency_level(alert, now, ctx.policy))
    wedding_day = any(a.wedding_day for _, a in alerts)
    impact = any(a.customer_impact for _, a in alerts)
    # Try to open it first (the common case), its members in the same statement; a live
    # incident of the group, or an HA twin opening it at the same moment, meets the
    # partial unique index instead, and the alerts join that one.
    members = [alert_id for alert_id, _ in alerts]
    row = conn.execute(
        "WITH opened AS (INSERT INTO receiver_incidents (alert_id, group_key, level,"
        " wedding_day, customer_impact, alert_count, opened_at)"
        " VALUES (%(first)s, %(group)s, %(level)s, %(wedding)s, %(impact)s, %(count)s, %(now)s)"
        " ON CONFLICT (group_key) WHERE state <> 'resolved' DO NOTHING RETURNING id),"
        " m AS (INSERT INTO receiver_incident_alerts (incident_id, alert_id)"
        " SELECT opened.id, unnest(%(members)s::bigint[]) FROM opened ON CONFLICT DO NOTHING)"
        " SELECT id FROM opened",
        # opened_at is the same instant the tier delays count from (not the server's
        # transaction start, which a wait for a pooled connection would shift).
        {"first": alerts[0][0], "group": group_key, "level": level, "wedding": wedding_day,
         "impact": impact, "count": len(alerts), "now": now, "members": members}).fetchone()
    opened = row is not None
    if row is not None:
        incident = Incident(int(row[0]), "open", level, wedding_day, impact)
    else:
        live = _live_incident(conn, group_key)
        assert live is not None
        incident = live
        conn.execute("UPDATE receiver_incidents SET alert_count = alert_count + %s,"
                     " wedding_day = wedding_day OR %s, customer_impact = customer_impact OR %s"
                     " WHERE id = %s", (len(alerts), wedding_day, impact, incident.id))
        conn.execute("INSERT INTO receiver_incident_alerts (incident_id, alert_id)"
                     " SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
                     (incident.id, members))
    if opened:
        trail.add("incident.opened", incident_id=incident.id, alert_id=alerts[0][0],
                     level=level, wedding_day=wedding_day, alerts=len(alerts),
                     alertname=alerts[0][1].name)
        apply(conn, ctx, incident, lifecycle.on_open(incident, ctx.policy, now),
              firing=[alert for _id, alert in alerts])
    else:
        done = apply(conn, ctx, incident, lifecycle.on_alerts_joined(
            incident, level, wedding_day, impact, ctx.policy, now))
        trail.add("incident.alerts_joined", incident_id=incident.id,
                     alerts=len(alerts), **done)
    return incident.id


def _resolve_members(conn: Connection, ctx: Escalation, alert_ids: list[int],
                     trail: audit.Trail) -> None:
    """Resolve each incident whose last firing alert just resolved."""
    rows = conn.execute(
        "SELECT DISTINCT incident_id FROM receiver_incident_alerts WHERE alert_id = ANY(%s)"
        " ORDER BY incident_id", (alert_ids,)).fetchall()
    for (incident_id,) in rows:
        incident = load_incident(conn, incident_id)
        assert incident is not None
        still = conn.execute(
            "SELECT count(*) FROM receiver_incident_alerts m JOIN receiver_alerts a"
            " ON a.id = m.alert_id WHERE m.incident_id = %s AND a.status = 'firing'",
            (incident_id,)).fetchone()
        if still is not None and still[0] == 0:
            done = apply(conn, ctx, incident, lifecycle.on_resolved(incident, ctx.policy))
            if done:
                trail.add("incident.resolved", incident_id=incident_id, **done)


def group_key_of(hook: Webhook, alert: Alert) -> str:
    """Alertmanager's group; a sender without groupKey gets one incident per alert."""
    return f"group:{hook.group_key}" if hook.group_key else f"fingerprint:{alert.fingerprint}"


_INBOX = ("INSERT INTO receiver_webhook_inbox (group_key, receiver, status, payload_sha256,"
          " alert_count, new_alerts, duplicate_alerts, payload) VALUES (%(group_key)s,"
          " %(receiver)s, %(status)s, %(sha)s, %(count)s, %(new)s, %(duplicates)s, %(payload)s)"
          " RETURNING id")


def record_webhook(conn: Connection, hook: Webhook, ctx: Escalation,
                   now: datetime) -> IngestResult:
    new = duplicates = 0
    trail = audit.Trail()
    this = audit.THIS_WEBHOOK  # the inbox row is written last, with the audit rows
    groups: dict[str, _Group] = defaultdict(_Group)
    # A stable order keeps two concurrent deliveries of the same group from deadlocking.
    for alert in sorted(hook.alerts, key=lambda a: (a.fingerprint, a.starts_at)):
        alert_id, previous = _upsert_alert(conn, alert)
        group = groups[group_key_of(hook, alert)]
        if previous is None:
            new += 1
            trail.add(f"alert.{alert.status}", alert_id=alert_id, inbox_id=this,
                      alertname=alert.name, severity=alert.severity)
            if alert.status == "firing":
                group.new_firing.append((alert_id, alert))
        elif previous == "firing" and alert.status == "resolved":
            new += 1
            conn.execute("UPDATE receiver_alerts SET status = 'resolved', ends_at = %s"
                         " WHERE id = %s", (alert.ends_at, alert_id))
            trail.add("alert.resolved", alert_id=alert_id, alertname=alert.name)
            group.resolved.append(alert_id)
        else:
            duplicates += 1
            if alert.status == "firing":
                group.repeats.append(alert_id)
    incidents: list[int] = []
    for key in sorted(groups):
        group = groups[key]
        if group.new_firing:
            incidents.append(_join(conn, ctx, key, group.new_firing, now, trail))
        if group.repeats:
            live = _live_incident(conn, key)
            if live is not None:
                advance_due_tiers(conn, ctx, live.id)
        if group.resolved:
            _resolve_members(conn, ctx, group.resolved, trail)
    trail.add("webhook.received", inbox_id=this, status=hook.status,
              alerts=len(hook.alerts), new=new, duplicates=duplicates,
              truncated=hook.truncated_alerts)
    inbox_id = trail.flush_with_inbox(conn, _INBOX, {
        "group_key": hook.group_key, "receiver": hook.receiver, "status": hook.status,
        "sha": hook.sha256, "count": len(hook.alerts), "new": new, "duplicates": duplicates,
        "payload": Jsonb(hook.document)})
    return IngestResult(inbox_id, new, duplicates, incidents)
