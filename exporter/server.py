"""Wiring: settings → database, collectors, caches, history, HTTP server."""

from __future__ import annotations

import logging
import resource
import threading
from typing import Any

from waitress.server import create_server

from .audit import AuditWriter
from .cache import RedisTier, SnapshotCache, namespace_for
from .db import Database
from .http import ExporterApp
from .scrape import Scraper, build_collectors
from .settings import Settings
from .statements.service import QueryTracker
from .wedding.collector import WeddingCollector
from .wedding.endpoint import WeddingDayEndpoint

log = logging.getLogger(__name__)


# Sockets kept for the pool, Redis and the process itself, below the connection limit.
RESERVED_FDS = 64


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (as Go programs do) and return it:
    every client connection is a file descriptor, and a low limit would refuse Prometheus."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return int(soft)


class Exporter:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.database = Database(settings.database)
        self.scraper = Scraper(settings, self.database, build_collectors(settings))
        redis_tier = None
        if settings.redis.url:
            redis_tier = RedisTier(settings.redis,
                                   namespace_for(settings.database.url, settings.enabled_collectors),
                                   max_skew=settings.cache.max_clock_skew_seconds)
        self.audit = AuditWriter(settings.audit, self.database)
        self.cache = SnapshotCache(settings.cache, self.scraper, redis_tier,
                                   on_collected=self.audit.offer)
        wedding = next((c for c in self.scraper.collectors
                        if isinstance(c, WeddingCollector)), None)
        self.queries = QueryTracker(settings, self.database, self.scraper.collectors, self.cache)
        self.app = ExporterApp(self.cache, settings.web, extra_routes={
            "/health/wedding-day": WeddingDayEndpoint(settings, self.cache, wedding),
            **self.queries.routes})
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.effective_port)

    def start(self) -> None:
        self.database.open()
        self.audit.start()
        self.queries.start()
        web = self.settings.web
        host, port = web.host_port
        limit = min(web.max_connections, max(10, raise_fd_limit() - RESERVED_FDS))
        if limit < web.max_connections:
            log.warning("open-files limit allows %d client connections, not %d", limit,
                        web.max_connections)
        # waitress reads requests asynchronously and hands only complete ones to its fixed
        # pool of threads: a slow or idle client holds a socket, never a thread, and is
        # dropped after web.read_timeout_seconds without activity.
        self._server = create_server(
            self.app, host=host, port=port, threads=web.threads, connection_limit=limit,
            channel_timeout=max(1, round(web.read_timeout_seconds)),
            cleanup_interval=max(1, round(web.read_timeout_seconds / 2)), backlog=1024,
            asyncore_use_poll=True, ident="dbhealth-exporter", expose_tracebacks=False)
        self._thread = threading.Thread(target=self._server.run, name="dbhealth-http",
                                        daemon=True)
        self._thread.start()
        log.info("listening on %s:%d", host, self.port)

    def serve_forever(self) -> None:
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self.audit.stop()
        self.queries.stop()
        self.database.close()
