"""Access logging for the exporter's JSON endpoints (the design's wedding-day security
protocol, as in the receiver): one JSON line per request on logger ``exporter.access``.

``/metrics`` is left out: Prometheus scrapes it every 15 s and its own ``up`` already
says whether that works. Each line names the route (a known path, never an arbitrary
one: a 404's path is ``<unknown>``), the outcome, the duration and who: ``bearer
token`` when a token was accepted, else the client address; never the token. Refused
requests (401) are counted in ``dbhealth_exporter_auth_failures_total{route}``; on a
wedding day (the snapshot's state; unknown counts as one) they are logged in full
detail (user agent, the authentication scheme offered).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("exporter.access")
LOGGED = ("/", "/health", "/health/full", "/health/wedding-day", "/queries")
StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def route_of(path: str, known: Iterable[str]) -> str:
    path = path.rstrip("/") or "/"
    return path if path in known else "<unknown>"


def access_fields(method: str, route: str, status: int, duration_ms: float,
                  authenticated: bool, client: str | None) -> dict[str, Any]:
    outcome = ("refused" if status in (401, 403) else "limited" if status == 429 else
               "error" if status >= 500 else "bad_request" if status >= 400 else "ok")
    return {"event": "access", "method": method, "route": route, "status": status,
            "outcome": outcome, "duration_ms": round(duration_ms, 1),
            "who": "bearer token" if authenticated else f"client {client or '?'}"}


class AccessLog:
    """WSGI middleware around the exporter's app."""

    def __init__(self, app: App, registry: CollectorRegistry, routes: Iterable[str],
                 wedding_day: Callable[[], bool]):
        self.app = app
        self.routes = tuple(routes)
        self.wedding_day = wedding_day
        self.refused = Counter("dbhealth_exporter_auth_failures",
                               "Requests refused for a missing or wrong bearer token (401).",
                               ["route"], registry=registry)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: list[int] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, *exc)

        body = self.app(environ, capture)
        path = environ.get("PATH_INFO", "/")
        if (path.rstrip("/") or "/") == "/metrics":
            return body
        status = seen[0] if seen else 500
        route = route_of(path, self.routes)
        offered = (environ.get("HTTP_AUTHORIZATION") or "").split(" ", 1)[0][:20]
        fields = access_fields(environ.get("REQUEST_METHOD", "GET"), route, status,
                               1000 * (time.perf_counter() - started),
                               bool(offered) and status not in (401, 403),
                               environ.get("REMOTE_ADDR"))
        if fields["outcome"] == "refused":
            self.refused.labels(route).inc()
            if self.wedding_day():
                fields.update(wedding_day=True, client=environ.get("REMOTE_ADDR"),
                              user_agent=str(environ.get("HTTP_USER_AGENT", ""))[:200],
                              auth_scheme=offered or None)
        log.info(json.dumps(fields, separators=(",", ":")))
        return body
