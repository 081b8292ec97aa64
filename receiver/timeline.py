"""An incident's story from its audit rows and pages, and the post-incident report: pure.

Input is plain rows (``IncidentView``), output plain dicts and Markdown, so the
JSON API, the phone page and the report tell the same story and are tested
without a database. Recipients appear as contact names (staff) or masked
addresses, as the audit rows hold them; vendors only as counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    event: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class PageRow:
    """One outbox row of the incident (pages, resolved notices, vendor messages)."""

    kind: str
    tier: int
    channel: str
    recipient_key: str
    status: str
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class PendingStep:
    kind: str
    tier: int
    due_at: datetime


@dataclass(frozen=True)
class IncidentView:
    id: int
    state: str
    level: str
    wedding_day: bool
    customer_impact: bool
    alertname: str
    summary: str
    alert_count: int
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    events: list[AuditRow] = field(default_factory=list)
    pages: list[PageRow] = field(default_factory=list)
    pending: list[PendingStep] = field(default_factory=list)


def _notification(row: AuditRow) -> tuple[str, str]:
    d = row.detail
    kind, outcome = d.get("kind", "page"), row.event.split(".", 1)[1]
    to = f"{d.get('channel', '?')} to {d.get('recipient', '?')}"
    if outcome == "sent":
        what = {"page": "delivered", "resolved": "told_resolved", "vendor": "vendor_told",
                "vendor_resolved": "vendor_told_resolved", "couple": "couple_told",
                "couple_resolved": "couple_told_resolved", "status": "status_page"
                }.get(kind, "sent")
        tier = f" (tier {d['tier']})" if kind == "page" and d.get("tier") else ""
        return what, f"{kind.replace('_', ' ')} {to}{tier}"
    error = f": {d['error']}" if d.get("error") else ""
    final = " (gave up)" if outcome in ("dead", "expired") else " (will retry)"
    return "failed", f"{kind.replace('_', ' ')} {to} {outcome}{error}{final}"


def _entry(row: AuditRow) -> tuple[str, str] | None:
    d = row.detail
    if row.event.startswith("notification."):
        return _notification(row)
    match row.event:
        case "incident.opened":
            return "received", (f"{d.get('alerts', 1)} alert(s) received, worst "
                                f"{d.get('alertname', '?')}; level {d.get('level', '?')}"
                                f"{', wedding day' if d.get('wedding_day') else ''}")
        case "incident.alerts_joined":
            return "received", f"{d.get('alerts', 1)} more alert(s) joined"
        case "escalation.tier":
            return "escalated", f"tier {d.get('tier')} paged ({d.get('messages', 0)} messages)"
        case "escalation.brought_forward":
            return "escalated", (f"nobody in tier {d.get('unreachable_tier')} could be reached:"
                                 " next tier brought forward")
        case "escalation.nobody_reached":
            return "failed", f"nobody could be reached (last tier {d.get('tier')})"
        case "escalation.vendors":
            return "vendors_told", (f"{d.get('notified', 0)} of {d.get('vendors_found', 0)} "
                                    f"vendors messaged ({d.get('source', '?')} list)")
        case "escalation.couples":
            return "couples_told", (f"{d.get('notified', 0)} of {d.get('couples_found', 0)} "
                                    f"couples messaged ({d.get('already_told_today', 0)} already"
                                    f" told today; {d.get('source', '?')} list)")
        case "escalation.step_failed":
            return "failed", f"{d.get('kind')} step failed ({d.get('error')}), retrying"
        case "incident.acknowledged":
            return "acked", f"acknowledged by {d.get('by', '?')}"
        case "incident.resolved":
            return "resolved", "all alerts resolved"
    return None


_ORDER = {w: i for i, w in enumerate((
    "received", "escalated", "paged", "delivered", "failed", "vendors_told", "vendor_told",
    "couples_told", "couple_told", "status_page", "acked", "resolved", "told_resolved",
    "vendor_told_resolved", "couple_told_resolved"))}


def timeline(view: IncidentView) -> list[dict[str, Any]]:
    """Ordered entries ``{at, what, text}``: received, paged, delivered, failed, escalated,
    acked, resolved, vendors told."""
    entries: list[tuple[datetime, str, str]] = []
    first_pages: dict[int, datetime] = {}
    for page in view.pages:
        if page.kind == "page":
            first = first_pages.get(page.tier)
            first_pages[page.tier] = page.created_at if first is None else min(first,
                                                                               page.created_at)
    for tier, at in first_pages.items():
        who = sorted({f"{p.recipient_key} ({p.channel})" for p in view.pages
                      if p.kind == "page" and p.tier == tier})
        entries.append((at, "paged", f"tier {tier}: {', '.join(who)}"))
    for row in view.events:
        found = _entry(row)
        if found is not None:
            entries.append((row.at, *found))
    # One transaction stamps several rows with the same now(): tell them in causal order.
    entries.sort(key=lambda e: (e[0], _ORDER.get(e[1], len(_ORDER))))
    return [{"at": at.isoformat(), "what": what, "text": text} for at, what, text in entries]


def _first_sent(view: IncidentView) -> datetime | None:
    sent = [p.sent_at for p in view.pages if p.kind == "page" and p.sent_at is not None]
    return min(sent) if sent else None


def _span(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "—"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def summary(view: IncidentView) -> dict[str, Any]:
    """The incident's headline fields, as the API returns them."""
    first = _first_sent(view)
    return {
        "id": view.id, "state": view.state, "level": view.level,
        "wedding_day": view.wedding_day, "customer_impact": view.customer_impact,
        "alertname": view.alertname, "summary": view.summary, "alert_count": view.alert_count,
        "opened_at": view.opened_at.isoformat(),
        "first_page_delivered_at": first.isoformat() if first else None,
        "acknowledged_at": view.acknowledged_at.isoformat() if view.acknowledged_at else None,
        "acknowledged_by": view.acknowledged_by,
        "resolved_at": view.resolved_at.isoformat() if view.resolved_at else None,
        "next": [{"kind": s.kind, "tier": s.tier, "due_at": s.due_at.isoformat()}
                 for s in sorted(view.pending, key=lambda s: s.due_at)],
    }


def who_was_told(view: IncidentView) -> dict[str, Any]:
    people = sorted({p.recipient_key for p in view.pages
                     if p.kind in ("page", "resolved") and p.status == "sent"})
    vendors = {p.recipient_key for p in view.pages if p.kind == "vendor" and p.status == "sent"}
    fixed = {p.recipient_key for p in view.pages
             if p.kind == "vendor_resolved" and p.status == "sent"}
    couples = {p.recipient_key for p in view.pages if p.kind == "couple" and p.status == "sent"}
    return {"staff": people, "vendors_told": len(vendors), "vendors_told_resolved": len(fixed),
            "couples_told": len(couples)}


def report(view: IncidentView) -> str:
    """The post-incident report (Markdown) for the lessons-learned review."""
    told = who_was_told(view)
    lines = [
        f"# Incident {view.id}: {view.alertname}", "",
        f"{view.summary}", "",
        "| | |", "|---|---|",
        f"| level | {view.level}{' (wedding day)' if view.wedding_day else ''} |",
        f"| customer impact | {'yes' if view.customer_impact else 'no'} |",
        f"| alerts | {view.alert_count} |",
        f"| opened | {view.opened_at.isoformat()} |",
        f"| time to page (first delivered) | {_span(view.opened_at, _first_sent(view))} |",
        f"| time to acknowledge | {_span(view.opened_at, view.acknowledged_at)}"
        f"{f' by {view.acknowledged_by}' if view.acknowledged_by else ''} |",
        f"| time to resolve | {_span(view.opened_at, view.resolved_at)} |",
        f"| staff told | {', '.join(told['staff']) or 'nobody'} |",
        f"| vendors told / told it was fixed | {told['vendors_told']} / "
        f"{told['vendors_told_resolved']} |",
        "", "## Timeline", "",
    ]
    lines += [f"- {e['at']} **{e['what']}** {e['text']}" for e in timeline(view)]
    lines += ["", "## Lessons learned", "", "- What went well:", "- What went wrong:",
              "- Actions (owner, date):", ""]
    return "\n".join(lines)
