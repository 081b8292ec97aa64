"""The public status page's content, from customer-impacting incidents: pure.

Nothing internal reaches it: no alert names, hosts, labels, people or numbers;
only the policy's customer words, the incident number and times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .policy import StatusPage

PUBLIC_STATE = {"open": "investigating", "acknowledged": "identified", "resolved": "resolved"}


def customer_message(alertname: str, annotation: str | None, page: StatusPage) -> str:
    return page.messages.get(alertname) or (annotation or "").strip() or page.default_message


def status_document(rows: list[tuple[Any, ...]], page: StatusPage,
                    now: datetime) -> dict[str, Any]:
    """rows: (id, state, alertname, customer_message annotation, opened_at, resolved_at)."""
    incidents = [{
        "id": int(incident_id), "state": PUBLIC_STATE[state],
        "message": customer_message(alertname, annotation, page),
        "since": opened_at.isoformat(),
        "resolved_at": resolved_at.isoformat() if resolved_at else None,
    } for incident_id, state, alertname, annotation, opened_at, resolved_at in rows]
    live = [i for i in incidents if i["state"] != "resolved"]
    return {
        "title": page.title,
        "status": "disrupted" if live else "operational",
        "summary": ("Some WedSync services are disrupted." if live
                    else "All WedSync services are working normally."),
        "updated_at": now.isoformat(),
        "incidents": live + [i for i in incidents if i["state"] == "resolved"],
    }


class StatusCache:
    """The last document, reused for a few seconds: a public page read by many during
    an incident must not turn into one database query per visitor."""

    def __init__(self) -> None:
        self._doc: dict[str, Any] | None = None
        self._at = float("-inf")

    def get(self, monotonic_now: float, ttl: float) -> dict[str, Any] | None:
        return self._doc if monotonic_now - self._at < ttl else None

    def last(self) -> dict[str, Any] | None:
        """The last document whatever its age (shown while the database is down)."""
        return self._doc

    def put(self, doc: dict[str, Any], monotonic_now: float) -> None:
        self._doc, self._at = doc, monotonic_now
