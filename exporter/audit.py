"""L3: health history rows in ``health_monitoring_audit``, at most one per interval.

Written from a background thread after a fresh collection, never on the
request path. Several replicas may collect; an advisory transaction lock and a
"nothing newer than the interval" condition make one row per interval in all.
Old rows beyond ``audit.retention_days`` are deleted in bounded batches.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time

from psycopg import errors as pgerrors

from .db import Database
from .errors import DatabaseUnavailable, QueryFailed
from .settings import AuditSettings
from .snapshot import Snapshot, summary
from .sqlcheck import quote_ident

log = logging.getLogger(__name__)

# {table}: the audit table named with its schema (sessions run with search_path = pg_catalog).
INSERT = """
WITH guard AS (SELECT pg_catalog.pg_try_advisory_xact_lock(
                          pg_catalog.hashtext('dbhealth.health_monitoring_audit')) AS ok)
INSERT INTO {table}
       (timestamp, status, metrics, alerts, check_type, collected_by, duration_seconds)
SELECT pg_catalog.to_timestamp(%(at)s), %(status)s, %(metrics)s::jsonb, %(alerts)s::jsonb,
       'standard', %(by)s, %(duration)s
FROM guard
WHERE guard.ok AND NOT EXISTS (
    SELECT 1 FROM {table}
    WHERE check_type = 'standard'
      AND timestamp > pg_catalog.to_timestamp(%(at)s) - pg_catalog.make_interval(secs => %(interval)s))
"""

PURGE = """
DELETE FROM {table} WHERE id IN (
    SELECT id FROM {table}
    WHERE timestamp < pg_catalog.now() - pg_catalog.make_interval(days => %(days)s) LIMIT 10000)
"""


class AuditWriter:
    def __init__(self, settings: AuditSettings, database: Database):
        self.settings = settings
        self.database = database
        table = f"{quote_ident(database.settings.exporter_schema)}.health_monitoring_audit"
        self._insert = INSERT.format(table=table)
        self._purge = PURGE.format(table=table)
        self._queue: queue.Queue[Snapshot | None] = queue.Queue(maxsize=1)
        self._next_due = 0.0
        self._disabled_reason: str | None = None
        self.rows_written = 0
        self._thread = threading.Thread(target=self._run, name="dbhealth-audit", daemon=True)

    def start(self) -> None:
        if self.settings.enabled:
            self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=1)
            self._thread.join(timeout=5)

    def offer(self, snapshot: Snapshot) -> None:
        """Called after each fresh collection; cheap, never blocks."""
        if not self.settings.enabled or self._disabled_reason or not snapshot.up:
            return
        if time.monotonic() < self._next_due:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(snapshot)

    def record(self, snapshot: Snapshot) -> bool:
        """Write one history row if none is newer than the interval; True if written."""
        shown = summary(snapshot)
        alerts = [{"check": name, "error": check["error"]}
                  for name, check in shown["checks"].items() if not check["success"]]
        written = self.database.write(self._insert, {
            "at": snapshot.collected_at, "status": snapshot.status,
            "metrics": json.dumps(shown), "alerts": json.dumps(alerts),
            "by": snapshot.collected_by, "duration": snapshot.duration_seconds,
            "interval": self.settings.interval_seconds,
        })
        self.database.write(self._purge, {"days": self.settings.retention_days})
        self.rows_written += written
        return written > 0

    def _run(self) -> None:
        while True:
            snapshot = self._queue.get()
            if snapshot is None:
                return
            try:
                self.record(snapshot)
                self._next_due = time.monotonic() + self.settings.interval_seconds
            except DatabaseUnavailable:
                pass  # the next collection offers again
            except QueryFailed as exc:
                if exc.matches(pgerrors.UndefinedTable):
                    self._disabled_reason = "table missing"
                    log.warning("health history disabled: table health_monitoring_audit is missing; "
                                "run 'dbhealth-exporter migrate'")
                else:
                    log.warning("could not write health history: %s", exc)
