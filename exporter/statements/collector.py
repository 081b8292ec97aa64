"""pg_stat_statements by wedding domain, plus the top-N statements (bounded cardinality).

    dbhealth_query_calls_total{domain="guest_list"} 182733
    dbhealth_query_exec_seconds_total{domain="guest_list"} 912.4
    dbhealth_query_rows_total{domain="guest_list"} 190211
    dbhealth_statement_calls_total{queryid="-8123…",domain="guest_list"} 50211
    dbhealth_statement_exec_seconds_total{queryid="other",domain="other"} 71.3
    dbhealth_index_suggestion_info{table="guests",columns="email"} 1

One statement per collection: ``pg_stat_statements(showtext := false)`` (no
query texts shipped), read with a binary cursor, plus
``pg_stat_statements_info.stats_reset`` in a sentinel row. Texts are needed only
to classify queryids never seen before: they are handed to a background
classifier (:mod:`exporter.statements.texts`) that fetches them in bounded
batches over a connection of its own and classifies them off the scrape path;
entries still waiting for it are held back and counted in full once classified.
Rows whose counters did not change since the last reading are skipped first;
counters are made monotonic by :mod:`exporter.statements.tracker`. Text never
becomes a label.

With Redis configured, the accumulators are shared by all replicas
(:mod:`exporter.statements.shared`), so the counters served do not depend on which
replica collected; without it (or while it is down) they live in this process.

Verify with: ``SELECT queryid, calls, total_exec_time FROM pg_stat_statements``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar, NoReturn, Protocol

from psycopg import errors as pgerrors

from ..collectors.base import CollectContext, Collected, Row
from ..errors import PrivilegeMissing, QueryFailed
from ..sqlcheck import quote_ident
from .catalog import EXTENSION_SCHEMA_SQL
from .classify import Classifier
from .exposition import statement_families
from .settings import StatementsSettings
from .suggestions import AdvisorResult
from .texts import TextClassifier, database_fetch
from .tracker import Deltas, StatementTracker

if TYPE_CHECKING:
    from ..db import Database
    from .shared import SharedState  # imports redis: only deployments with Redis load it

log = logging.getLogger(__name__)

_COLUMNS = "s.queryid, s.dbid, s.userid, s.calls, s.total_exec_time, s.rows"
# The last row: whether we may see other roles' statements (in the calls column: without
# pg_read_all_stats their queryids are NULL and every number would land in "other"), when
# pg_stat_statements was last reset, and when this reading was taken (the server's clock,
# in µs, so replicas sharing state in Redis can order their readings).
_SENTINEL = ("SELECT NULL::bigint, 0::oid, 0::oid, "
             "pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')::int::bigint, "
             "coalesce(extract(epoch FROM stats_reset)::float8, 0), "
             "(extract(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint "
             "FROM {schema}.pg_stat_statements_info")
_THIS_DB = (" AND s.dbid = (SELECT oid FROM pg_catalog.pg_database "
            "WHERE datname = pg_catalog.current_database())")
NEEDS = ("other roles' statements have no queryid without pg_read_all_stats "
         "(a pg_monitor member sees all)")

HOW_TO_ENABLE = (
    "pg_stat_statements is not available in the monitored database, so the statements "
    "collector reports dbhealth_collector_success{collector=\"statements\"} 0. To enable it: "
    "add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart "
    "PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in the monitored database "
    "(details: docs/queries.md). Rechecking every %.0fs; this is logged once.")
# How much newer than ours a peer replica's pg_stat_statements reading can honestly be.
MAX_PEER_LEAD_SECONDS = 60.0
# undefined function / table (extension dropped or never created), not preloaded
_MISSING = (pgerrors.UndefinedFunction, pgerrors.UndefinedTable, pgerrors.ObjectNotInPrerequisiteState)


class StatementsUnavailable(QueryFailed):
    """pg_stat_statements is missing; the remedy was logged once by the collector
    (``expected``: repeating the same warning every scrape would flood the log)."""

    def __init__(self, message: str):
        super().__init__(message, expected=True)


class AdvisorSource(Protocol):
    latest: AdvisorResult | None


def build_sql(schema: str, *, include_nested: bool, all_databases: bool) -> str:
    """The one statement of a collection; ``schema`` is pg_stat_statements' (from pg_extension)."""
    where = "WHERE TRUE" + ("" if include_nested else " AND s.toplevel") \
        + ("" if all_databases else _THIS_DB)
    ext = quote_ident(schema)
    return (f"SELECT {_COLUMNS} FROM {ext}.pg_stat_statements(false) s {where} "
            f"UNION ALL {_SENTINEL.format(schema=ext)}")


class StatementsCollector:
    name: ClassVar[str] = "statements"
    # The slowest collector by far: run beside the others, on a connection of its own
    # (exporter.scrape).
    own_connection: ClassVar[bool] = True

    def __init__(self, settings: StatementsSettings, *, advisor: AdvisorSource | None = None,
                 shared: SharedState | None = None, database: Database | None = None) -> None:
        """``advisor``: whose latest result is exported; ``shared``: the accumulators in
        Redis shared by every replica (None: in this process only); ``database``: the pool
        the background classifier borrows a connection from for texts (None: no texts,
        every statement stays unclassified)."""
        self.settings = settings
        cfg = self.settings
        self.classifier = Classifier(cfg.table_domains, cfg.domain_priority)
        self.texts = TextClassifier(cfg, self.classifier,
                                    database_fetch(database) if database is not None else None)
        self.tracker = StatementTracker(cfg.top_n, regression_min_calls=cfg.regression_min_calls)
        self.advisor = advisor
        self.schema: str | None = None  # pg_stat_statements' schema, read from pg_extension
        self._sql = ""
        self._shared = shared
        self._missing: str | None = None
        self._recheck_at = 0.0
        self.unclassified = 0

    @property
    def domains(self) -> dict[int, str]:
        """queryid → domain, for every classified statement (published by the classifier)."""
        return self.texts.domains

    # -- one collection ---------------------------------------------------------------------
    def collect(self, ctx: CollectContext) -> Collected:
        if self.schema is None:
            # Once per process (and after the extension went away): find its schema first.
            # The only collection where this collector runs two statements.
            self._locate(ctx)
        rows = self._read(ctx)
        stats_reset, read_at, privileged = self._take_sentinel(rows)
        if not privileged:
            raise PrivilegeMissing(NEEDS)
        with self.texts.lock:  # one consistent mapping for the whole fold
            domains = dict(self.texts.domains)
        deltas = self._fold(rows, domains, stats_reset, read_at or ctx.now)
        self.tracker.watch(deltas.by_queryid)
        self.unclassified = len(deltas.unclassified)
        if deltas.unclassified and self.schema is not None:
            self.texts.want(self.schema, deltas.unclassified)
        if len(domains) > self.settings.max_known_statements:
            self.texts.forget({r[0] for r in rows if r[0] is not None})
        return Collected(statement_families(self.tracker, self.unclassified, self._advice()))

    def _advice(self) -> AdvisorResult | None:
        return self.advisor.latest if self.advisor is not None else None

    def _locate(self, ctx: CollectContext) -> None:
        if self._missing is not None and ctx.now < self._recheck_at:
            raise StatementsUnavailable(self._missing)
        found = ctx.query(EXTENSION_SCHEMA_SQL, {"name": "pg_stat_statements"})
        if not found:
            self._unavailable(ctx, "extension pg_stat_statements is not created in this database")
        if not found[0][1]:
            raise PrivilegeMissing(NEEDS)
        if not found[0][2]:
            self._unavailable(ctx, "pg_stat_statements is not in shared_preload_libraries")
        self.schema = str(found[0][0])
        cfg = self.settings
        self._sql = build_sql(self.schema, include_nested=cfg.include_nested,
                              all_databases=cfg.all_databases)

    def _unavailable(self, ctx: CollectContext, why: str) -> NoReturn:
        if self._missing is None:
            log.warning(HOW_TO_ENABLE, self.settings.missing_recheck_seconds)
        self._missing = f"pg_stat_statements unavailable: {why}"
        self._recheck_at = ctx.now + self.settings.missing_recheck_seconds
        self.schema = None
        raise StatementsUnavailable(self._missing)

    def _read(self, ctx: CollectContext) -> list[Row]:
        try:
            rows = (ctx.query_binary or ctx.query)(self._sql, None)
        except QueryFailed as exc:
            if exc.matches(*_MISSING):
                self._unavailable(ctx, str(exc))
            raise
        if self._missing is not None:
            log.info("pg_stat_statements is available again; statements collector resumed")
            self._missing = None
        return rows

    @staticmethod
    def _take_sentinel(rows: list[Row]) -> tuple[float | None, float | None, bool]:
        """(stats_reset, reading time, privileged) from the sentinel row, which is removed."""
        for i in (len(rows) - 1, *range(len(rows) - 1)):  # it is last in practice
            if i >= 0 and rows[i][0] is None and rows[i][2] == 0:
                row = rows.pop(i)
                return (float(row[4]) if row[4] else None), float(row[5]) / 1e6, bool(row[3])
        return None, None, True

    def _fold(self, rows: list[Row], domains: dict[int, str], stats_reset: float | None,
              read_at: float) -> Deltas:
        """Fold the reading into the accumulators, shared through Redis when configured."""
        shared = self._shared
        if shared is None or not shared.available:
            return self._fold_locally(rows, domains, stats_reset, read_at)
        folded: Deltas | None = None
        try:
            for _ in range(3):
                shared.refresh(self.tracker)
                if self.tracker.read_at > read_at + MAX_PEER_LEAD_SECONDS:
                    # Read "later" than our own reading of the same server clock by more than
                    # any peer could be: forged or corrupt. Ours replaces it.
                    log.warning("ignoring shared statement counters stamped %.0fs ahead of the "
                                "server's clock", self.tracker.read_at - read_at)
                    self.tracker.read_at = 0.0
                if self.tracker.read_at >= read_at:
                    return Deltas()  # a peer already folded a newer reading in: serve that
                based_on = self.tracker.generation
                folded = self._fold_locally(rows, domains, stats_reset, read_at)
                if shared.save(self.tracker, based_on):
                    return folded
            # Peers kept saving first: serve ours; the next collection starts from theirs.
            return folded if folded is not None else Deltas()
        except shared.errors as exc:
            shared.failed(exc)
            if folded is not None:
                return folded
            return self._fold_locally(rows, domains, stats_reset, read_at)

    def _fold_locally(self, rows: list[Row], domains: dict[int, str],
                      stats_reset: float | None, read_at: float) -> Deltas:
        deltas = self.tracker.update(rows, domains, stats_reset)
        self.tracker.read_at = read_at
        return deltas
