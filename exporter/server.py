"""Wiring: settings → database, collectors, caches, history, HTTP server."""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .audit import AuditWriter
from .cache import RedisTier, SnapshotCache, namespace_for
from .collectors.wedding import WeddingCollector
from .db import Database
from .http import ExporterApp
from .queries.service import QueryTracker
from .scrape import Scraper, build_collectors
from .settings import Settings
from .wedding_endpoint import WeddingDayEndpoint

log = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # 50+ concurrent scrapes must queue, not be refused


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Exporter:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.database = Database(settings.database)
        self.scraper = Scraper(settings, self.database, build_collectors(settings))
        redis_tier = None
        if settings.redis.url:
            redis_tier = RedisTier(settings.redis,
                                   namespace_for(settings.database.url, settings.enabled_collectors))
        self.audit = AuditWriter(settings.audit, self.database)
        self.cache = SnapshotCache(settings.cache, self.scraper, redis_tier,
                                   on_collected=self.audit.offer)
        wedding = next((c for c in self.scraper.collectors
                        if isinstance(c, WeddingCollector)), None)
        self.queries = QueryTracker(settings, self.database, self.scraper.collectors, self.cache)
        self.app = ExporterApp(self.cache, settings.web, extra_routes={
            "/health/wedding-day": WeddingDayEndpoint(settings, self.cache, wedding),
            **self.queries.routes})
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> None:
        self.database.open()
        self.audit.start()
        self.queries.start()
        host, port = self.settings.web.host_port
        self._server = make_server(host, port, self.app, _ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="dbhealth-http",
                                        daemon=True)
        self._thread.start()
        log.info("listening on %s:%d", host, self.port)

    def serve_forever(self) -> None:
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.audit.stop()
        self.queries.stop()
        self.database.close()
