"""The exporter's WSGI app: /metrics, /health, /health/full.

/metrics and /health always answer: a database that is down is reported as
``dbhealth_up 0`` (and ``/health`` 503), never as a failed scrape. The JSON
endpoints under /health/ can require a bearer token and are rate-limited per
client; /health itself stays open and cheap for load balancers.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import __version__, textformat
from .cache import SnapshotCache
from .settings import WebSettings
from .snapshot import Snapshot, summary

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]
CONTENT_TYPE_METRICS = "text/plain; version=0.0.4; charset=utf-8"
JSON = "application/json"


# Prometheus' own bounds are wider; a scrape budget outside these is a mistake or an attack.
MIN_SCRAPE_TIMEOUT_SECONDS = 0.1
MAX_SCRAPE_TIMEOUT_SECONDS = 300.0


def scrape_budget(header: str | None, default: float, offset: float) -> float:
    """Seconds this request may take: the Prometheus header (clamped to finite, sane
    bounds: ``inf``, ``nan``, ``1e300`` and negatives included) less the offset."""
    timeout = default
    if header:
        try:
            timeout = float(header)
        except ValueError:
            log.debug("ignoring malformed scrape timeout header")
        if math.isnan(timeout):
            timeout = default
        timeout = min(max(timeout, MIN_SCRAPE_TIMEOUT_SECONDS), MAX_SCRAPE_TIMEOUT_SECONDS)
    return max(MIN_SCRAPE_TIMEOUT_SECONDS, timeout - offset)


class RateLimiter:
    """A token bucket per client address, bounded in memory."""

    def __init__(self, per_minute: int, max_clients: int = 10_000):
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        if self.capacity <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return allowed


class _ServeMetrics:
    """Per-request series: cache age and counters of this process (not cached)."""

    def __init__(self, cache: SnapshotCache):
        self.cache = cache
        self.current: Snapshot | None = None

    def collect(self) -> Iterable[Metric]:
        stats = self.cache.stats
        age = self.current.age() if self.current is not None else 0.0
        yield GaugeMetricFamily("dbhealth_cache_age_seconds", "Age of the data served.", value=age)
        hits = CounterMetricFamily("dbhealth_cache_hits", "Scrapes served from a cache tier.",
                                   labels=["tier"])
        for tier, count in stats.hits.items():
            hits.add_metric([tier], float(count))
        yield hits
        yield CounterMetricFamily("dbhealth_cache_misses", "Scrapes that needed a fresh collection.",
                                  value=float(stats.misses))
        yield CounterMetricFamily("dbhealth_collections", "Fresh collections run by this process.",
                                  value=float(stats.collections))
        if self.cache.redis is not None:
            yield GaugeMetricFamily("dbhealth_redis_up", "1 while the shared L2 cache is usable.",
                                    value=1.0 if self.cache.redis.available else 0.0)
        info = GaugeMetricFamily("dbhealth_exporter_build_info", "Exporter version.",
                                 labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info


class ExporterApp:
    def __init__(self, cache: SnapshotCache, web: WebSettings,
                 extra_routes: dict[str, Callable[[Environ], tuple[int, Any]]] | None = None):
        self.cache = cache
        self.web = web
        self.limiter = RateLimiter(web.rate_limit_per_minute)
        self.health_limiter = RateLimiter(web.health_rate_limit_per_minute)
        self.serve_metrics = _ServeMetrics(cache)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ProcessCollector(registry=None))
        self.extra_routes = extra_routes or {}
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return self._json(start_response, 405, {"error": "method not allowed"},
                              [("Allow", "GET, HEAD")])
        try:
            if path == "/metrics":
                return self._metrics(environ, start_response)
            if path == "/health":
                return self._health(environ, start_response)
            if path == "/":
                body = b"dbhealth exporter: /metrics /health /health/full /health/wedding-day /queries\n"
                start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
                return [body]
            if path == "/health/full" or path in self.extra_routes:
                refused = self._guard(environ, start_response)
                if refused is not None:
                    return refused
                if path == "/health/full":
                    return self._health_full(environ, start_response)
                status, payload = self.extra_routes[path](environ)
                return self._json(start_response, status, payload)
        except Exception:  # the last line of defence: answer, log, keep serving
            log.exception("error serving %s", path)
            return self._json(start_response, 500, {"error": "internal error; see the exporter log"})
        return self._json(start_response, 404, {"error": f"no such endpoint: {path}"})

    def _json(self, start_response: StartResponse, status: int, payload: Any,
              headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        body = json.dumps(payload, indent=2, default=str).encode()
        start_response(f"{status} {_REASONS.get(status, 'OK')}",
                       [("Content-Type", JSON), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store"), *(headers or [])])
        return [body]

    def _guard(self, environ: Environ, start_response: StartResponse) -> list[bytes] | None:
        if self.web.auth_token:
            given = environ.get("HTTP_AUTHORIZATION", "")
            expected = f"Bearer {self.web.auth_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return self._json(start_response, 401, {"error": "missing or wrong bearer token"},
                                  [("WWW-Authenticate", 'Bearer realm="dbhealth"')])
        if not self.limiter.allow(environ.get("REMOTE_ADDR", "?")):
            return self._json(start_response, 429, {"error": "rate limit exceeded"},
                              [("Retry-After", "1")])
        return None

    def deadline(self, environ: Environ) -> float:
        return time.monotonic() + scrape_budget(
            environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"),
            self.web.default_scrape_timeout_seconds, self.web.scrape_timeout_offset_seconds)

    # -- endpoints ------------------------------------------------------------------------
    def _metrics(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        snapshot, _ = self.cache.get(self.deadline(environ))
        with self._lock:
            self.serve_metrics.current = snapshot
            dynamic = textformat.render([*self.registry.collect(), *self.serve_metrics.collect()])
        body = (snapshot.exposition + dynamic).encode()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_METRICS),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def _health(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        if not self.health_limiter.allow(environ.get("REMOTE_ADDR", "?")):
            return self._json(start_response, 429, {"error": "rate limit exceeded"},
                              [("Retry-After", "1")])
        snapshot, source = self.cache.get(self.deadline(environ))
        status = 503 if snapshot.status == "down" else 200
        return self._json(start_response, status, {
            "status": snapshot.status, "cache_age_seconds": round(snapshot.age(), 3),
            "source": source})

    def _health_full(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        snapshot, source = self.cache.get(self.deadline(environ))
        payload = summary(snapshot)
        payload["cache"] = {"source": source, "age_seconds": round(snapshot.age(), 3),
                            "redis": None if self.cache.redis is None
                            else ("up" if self.cache.redis.available else "down")}
        return self._json(start_response, 503 if snapshot.status == "down" else 200, payload)


_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
