"""Wiring, in one place: settings → database, collectors, advisor, caches, history, HTTP server.

Every part gets what it needs as a constructor argument: the statements collector
its advisor and shared accumulators, the advisor and ``/queries`` the wedding-day
answer from the cached snapshot, the wedding endpoint its snapshot source.
"""

from __future__ import annotations

import logging
import resource
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from waitress.server import create_server

from .access import LOGGED, AccessLog
from .audit import AuditWriter
from .cache import RedisTier, SnapshotCache, namespace_for
from .collectors.activity import ActivityCollector
from .collectors.archiver import ArchiverCollector
from .collectors.backup import BackupCollector
from .collectors.base import Collector
from .collectors.database import DatabaseCollector
from .collectors.replication import ReplicationCollector
from .collectors.tables import TablesCollector
from .db import Database
from .http import ExporterApp, scrape_budget
from .scrape import Scraper
from .settings import Settings
from .snapshot import wedding_day_in_force
from .statements.collector import AdvisorSource, StatementsCollector
from .statements.report import QueryReport
from .wedding.collector import WeddingCollector
from .wedding.endpoint import WeddingDayEndpoint

if TYPE_CHECKING:
    from .statements.advisor import IndexAdvisor

log = logging.getLogger(__name__)

# Sockets kept for the pool, Redis and the process itself, below the connection limit.
RESERVED_FDS = 64


def build_collectors(settings: Settings, advisor: AdvisorSource | None = None, *,
                     database: Database | None = None) -> list[Collector]:
    """The enabled collectors, in their run order (``COLLECTOR_DEFAULTS``). ``database``:
    the pool the statements collector's background classifier borrows from for texts."""
    shared = None
    if settings.redis.url:
        from .statements.shared import SharedState  # imports redis: only when configured

        shared = SharedState(settings)
    factories: dict[str, Callable[[], Collector]] = {
        "wedding": lambda: WeddingCollector(settings.wedding, settings.timezone,
                                            settings.database.exporter_schema),
        "activity": ActivityCollector,
        "database": DatabaseCollector,
        "replication": ReplicationCollector,
        "archiver": ArchiverCollector,
        "tables": lambda: TablesCollector(settings.tables.watched),
        "statements": lambda: StatementsCollector(settings.statements, advisor=advisor,
                                                  shared=shared, database=database),
        "backup": lambda: BackupCollector(settings.database.exporter_schema),
    }
    return [factories[name]() for name in settings.enabled_collectors]


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

        def wedding_day() -> bool:
            return wedding_day_in_force(self.cache.last)

        self.advisor: IndexAdvisor | None = None
        if settings.statements.advisor.enabled:
            from .statements.advisor import IndexAdvisor  # its dependencies: only when enabled

            self.advisor = IndexAdvisor(settings.statements, self.database, wedding_day)
        collectors = build_collectors(settings, self.advisor, database=self.database)
        self.scraper = Scraper(self.database, collectors,
                               prefetch_lead=settings.statements.prefetch_seconds,
                               prefetch_max_age=settings.statements.prefetch_max_age_seconds)
        redis_tier = None
        if settings.redis.url:
            redis_tier = RedisTier(settings.redis,
                                   namespace_for(settings.database.url, settings.enabled_collectors),
                                   max_skew=settings.cache.max_clock_skew_seconds)
        self.audit = AuditWriter(settings.audit, self.database)
        self.cache = SnapshotCache(settings.cache, self.scraper, redis_tier,
                                   on_collected=self.audit.offer)
        web = settings.web
        budget = scrape_budget(None, web.default_scrape_timeout_seconds,
                               web.scrape_timeout_offset_seconds)
        statements = next((c for c in collectors if isinstance(c, StatementsCollector)), None)
        self.report = QueryReport(settings, self.database, statements,
                                  lambda: self.advisor.latest if self.advisor else None,
                                  wedding_day, budget)
        wedding_endpoint = WeddingDayEndpoint(settings.wedding, settings.timezone, self.cache.get,
                                              budget)
        self.app = ExporterApp(self.cache, web, extra_routes={
            "/health/wedding-day": wedding_endpoint, "/queries": self.report})
        self.served = AccessLog(self.app, self.app.registry, LOGGED, wedding_day)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.effective_port)

    def start(self) -> None:
        self.database.open()
        self.audit.start()
        if self.advisor is not None:
            self.advisor.start()
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
            self.served, host=host, port=port, threads=web.threads, connection_limit=limit,
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
        if self.advisor is not None:
            self.advisor.stop()
        self.scraper.close()
        self.database.close()
