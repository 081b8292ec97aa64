"""Access logging: one structured line per request, and failed-auth counting.

The design's wedding-day security protocol: every request to the API and pages is
logged once (logger ``receiver.access``, JSON): who (a credential's *name*, never
the credential; else the client address), what (the route pattern, so a signed
link's token never reaches a log), the outcome and the duration. A refused
request (401/403) on a wedding day is logged in full detail (user agent, the
authentication scheme offered, the path's shape) to investigate an attack during
an event. Wedding day = today's vendor roster is not empty (the snapshot in our
own database), checked only when a request is refused, at most once a minute.

Refusals are counted per route into ``receiver_auth_failures`` (flushed at most
every few seconds per process, and before each /metrics), so every gunicorn worker
reports the same ``dbhealth_receiver_auth_failures_total`` and a flood of bad
requests costs one small write per flush, not one per request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

from .db import ReceiverDB
from .errors import ReceiverError
from .policy import Policy

log = logging.getLogger("receiver.access")
FLUSH_EVERY_SECONDS = 5.0
WEDDING_DAY_CHECK_SECONDS = 60.0


def identify(who: str) -> None:
    """Name the caller for this request's access line (a credential's name, never its value)."""
    g.access_who = who


def access_fields(method: str, route: str, status: int, duration_ms: float, who: str | None,
                  client: str | None) -> dict[str, Any]:
    return {"event": "access", "method": method, "route": route, "status": status,
            "outcome": "refused" if status in (401, 403) else
                       "error" if status >= 500 else "bad_request" if status >= 400 else "ok",
            "duration_ms": round(duration_ms, 1), "who": who or f"client {client or '?'}"}


class AccessLog:
    """Per-app access logging and failed-auth counters (kept in ``app.extensions``)."""

    def __init__(self, db: ReceiverDB, policy: Policy):
        self.db, self.policy = db, policy
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self._wedding_day: tuple[float, bool] | None = None

    def install(self, app: Flask) -> None:
        app.before_request(self._begin)
        app.after_request(self._finish)

    @staticmethod
    def _begin() -> None:
        g.access_started = time.perf_counter()

    def _finish(self, response: Response) -> Response:
        started = g.get("access_started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        fields = access_fields(request.method, route, response.status_code,
                               1000 * (time.perf_counter() - started), g.get("access_who"),
                               request.remote_addr)
        if fields["outcome"] == "refused":
            with self._lock:
                self._failures[route] += 1
            if self.wedding_day():
                fields.update(wedding_day=True, client=request.remote_addr,
                              user_agent=(request.user_agent.string or "")[:200],
                              auth_scheme=(request.headers.get("Authorization") or "").split(
                                  " ", 1)[0][:20] or None,
                              path_length=len(request.path))
            self.flush(force=False)
        log.info(json.dumps(fields, separators=(",", ":")))
        return response

    def wedding_day(self) -> bool:
        from .roster import roster_status  # roster needs the policy module chain; late import

        now = time.monotonic()
        if self._wedding_day and now - self._wedding_day[0] < WEDDING_DAY_CHECK_SECONDS:
            return self._wedding_day[1]
        today = datetime.now(UTC).astimezone(self.policy.zone).date()
        try:
            with self.db.transaction() as conn:
                answer = roster_status(conn, today).vendor_count > 0
        except ReceiverError:
            answer = True  # cannot tell: log in full detail (fail strict)
        self._wedding_day = (now, answer)
        return answer

    def flush(self, *, force: bool) -> None:
        """Add the counted refusals to the database (kept in memory if it is down)."""
        with self._lock:
            if not self._failures or (not force and time.monotonic() - self._flushed_at
                                      < FLUSH_EVERY_SECONDS):
                return
            pending, self._failures = self._failures, Counter()
            self._flushed_at = time.monotonic()
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO receiver_auth_failures (route, total, last_at)"
                    " SELECT r, n, now() FROM unnest(%s::text[], %s::bigint[]) AS f(r, n)"
                    " ON CONFLICT (route) DO UPDATE SET total = receiver_auth_failures.total"
                    " + EXCLUDED.total, last_at = now()",
                    (list(pending), list(pending.values())))
        except ReceiverError:
            with self._lock:
                self._failures.update(pending)
