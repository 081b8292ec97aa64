"""``/queries``: the slowest statements with sanitized text, domain, numbers, findings, advice.

Built on request (the endpoint sits behind the bearer token and the rate limit)
from a handful of small reads on one pooled connection: the top statements
without text, the texts of ids not sanitized before (kept in a bounded cache),
the large mostly seq-scanned tables, and — cached for a minute — whether a
wedding is scheduled within the next 7 days, in which case the domains that
matter on the day rank first. Regressions come from the statements collector's
history in this process, index suggestions from the advisor's last run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from psycopg import errors as pgerrors

from ..errors import DatabaseUnavailable, QueryFailed
from ..sqlcheck import quote_ident
from .catalog import EXTENSION_SCHEMA_SQL
from .classify import Classifier, parse_tree, tables_in
from .findings import LARGE_SEQ_SCANNED_SQL, StatementStats, findings
from .sanitize import sanitize
from .settings import WEDDING_CRITICAL_DOMAINS
from .suggestions import AdvisorResult, seq_scan_finding, table_label

if TYPE_CHECKING:
    from ..db import Database, Session
    from ..settings import Settings
    from .collector import StatementsCollector

log = logging.getLogger(__name__)

_THIS_DB = ("AND dbid = (SELECT oid FROM pg_catalog.pg_database "
            "WHERE datname = pg_catalog.current_database())")
# {ext}: pg_stat_statements' schema, read from pg_extension (queries/catalog.py).
TOP_SQL = """
WITH s AS (
    SELECT queryid, pg_catalog.sum(calls)::float8 AS calls,
           pg_catalog.sum(total_exec_time)::float8 AS total_ms,
           pg_catalog.max(max_exec_time)::float8 AS max_ms, pg_catalog.sum(rows)::float8 AS nrows
    FROM {ext}.pg_stat_statements(false)
    WHERE toplevel AND queryid IS NOT NULL """ + _THIS_DB + """
    GROUP BY queryid
)
(SELECT * FROM s ORDER BY total_ms DESC LIMIT %(limit)s)
UNION
(SELECT * FROM s WHERE calls > 0 ORDER BY total_ms / calls DESC LIMIT %(limit)s)
"""
# One text per queryid: the top-level entry's (a nested one quotes its caller, e.g. PREPARE).
TEXT_SQL = """
SELECT DISTINCT ON (queryid) queryid, query FROM {ext}.pg_stat_statements(true)
WHERE queryid = ANY(%(ids)s) """ + _THIS_DB + """
ORDER BY queryid, toplevel DESC, calls DESC
"""
MISSING = ("pg_stat_statements is not available in the monitored database: add it to "
           "shared_preload_libraries, restart, and run CREATE EXTENSION pg_stat_statements")

Described = tuple[str, str, frozenset[str]]  # sanitized text, domain, table labels


class ExtensionMissing(Exception):
    """pg_stat_statements is not created in the monitored database."""


class QueryReport:
    def __init__(self, settings: Settings, database: Database,
                 collector: StatementsCollector | None,
                 advisor_result: Callable[[], AdvisorResult | None],
                 wedding_day: Callable[[], bool], budget_seconds: float,
                 cache_size: int = 1000):
        """``budget_seconds``: how long one report may take (the scrape budget)."""
        self.settings = settings
        self.cfg = settings.statements
        self.database = database
        self.collector = collector
        self.advisor_result = advisor_result
        self.wedding_day = wedding_day
        self.budget_seconds = budget_seconds
        self.classifier = Classifier(self.cfg.table_domains, self.cfg.domain_priority)
        self._described: OrderedDict[int, Described] = OrderedDict()
        self._cache_size = cache_size
        self._upcoming: tuple[float, int | None] | None = None
        # One report at a time: it shares caches, and parallel ones would only repeat the reads.
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any]) -> tuple[int, Any]:
        limit = self.cfg.report_limit
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "limit" in query:
            raw = query["limit"][0]
            if not raw.isdigit() or not 1 <= int(raw) <= 5000:
                return 400, {"error": "limit must be an integer between 1 and 5000"}
            limit = int(raw)
        deadline = time.monotonic() + self.budget_seconds
        try:
            with self._lock, self.database.session(deadline) as session:
                return 200, self.build(session, limit)
        except DatabaseUnavailable as exc:
            return 503, {"error": f"database unavailable: {exc}"}
        except ExtensionMissing:
            return 503, {"error": MISSING}
        except QueryFailed as exc:
            if exc.matches(pgerrors.UndefinedFunction, pgerrors.UndefinedTable,
                           pgerrors.ObjectNotInPrerequisiteState):
                return 503, {"error": MISSING}
            return 503, {"error": f"query failed: {exc}"}

    def build(self, session: Session, limit: int) -> dict[str, Any]:
        now = time.time()
        wedding_day = self.wedding_day()
        threshold = self.cfg.slow_threshold(wedding_day)
        found = session.query(EXTENSION_SCHEMA_SQL, {"name": "pg_stat_statements"})
        if not found:
            raise ExtensionMissing
        ext = quote_ident(str(found[0][0]))
        rows = session.query(TOP_SQL.format(ext=ext), {"limit": limit})
        stats = [StatementStats(int(q), c, t, m or 0.0, r) for q, c, t, m, r in rows]
        self._describe_missing(session, ext, [s.queryid for s in stats])
        seq = session.query(LARGE_SEQ_SCANNED_SQL, {"large": self.cfg.large_table_rows})
        seq_scanned = {table_label(r[0], r[1]) for r in seq}
        upcoming = self._upcoming_weddings(session, now)
        priority = wedding_day or upcoming is None or upcoming > 0
        advice = self.advisor_result()
        entries: list[dict[str, Any]] = []
        for s in stats:
            text, domain, tables = self._described.get(s.queryid, ("<unavailable>", "other",
                                                                    frozenset()))
            if self.collector is not None and s.queryid in self.collector.domains:
                domain = self.collector.domains[s.queryid]
            regression = None
            if self.collector is not None:
                regression = self.collector.tracker.regression(
                    s.queryid, self.cfg.regression_factor, self.cfg.regression_min_mean_ms)
            suggestions = [x.as_dict() for x in (advice.suggestions if advice else ())
                           if s.queryid in x.queryids]
            entries.append({
                "queryid": str(s.queryid), "domain": domain, "text": text,
                "calls": int(s.calls), "total_seconds": round(s.total_ms / 1000.0, 6),
                "mean_ms": round(s.mean_ms, 3), "max_ms": round(s.max_ms, 3),
                "rows": int(s.rows), "rows_per_call": round(s.rows_per_call, 3),
                "wedding_critical": domain in WEDDING_CRITICAL_DOMAINS,
                "findings": findings(s, self.cfg, threshold_ms=threshold, tables=set(tables),
                                     seq_scanned=seq_scanned, regression=regression,
                                     domain=domain, plan_regressed=tuple(
                                         c.table for c in (advice.plan_changes if advice else ())
                                         if c.queryid == s.queryid)),
                "index_suggestions": suggestions,
            })
        entries.sort(key=lambda e: (priority and not e["wedding_critical"],
                                    -e["total_seconds"]))
        return {
            "generated_at": now,
            "wedding_day": wedding_day,
            "upcoming_weddings_7d": upcoming,
            "wedding_priority": priority,
            "slow_threshold_ms": threshold,
            "statements": entries[:limit],
            "tables": [seq_scan_finding(r) for r in seq],
            "index_advisor": advice.as_dict() if advice else None,
        }

    def _describe_missing(self, session: Session, ext: str, queryids: list[int]) -> None:
        missing = [q for q in queryids if q not in self._described]
        for q in queryids:
            if q in self._described:
                self._described.move_to_end(q)
        if not missing:
            return
        for queryid, text in session.query(TEXT_SQL.format(ext=ext), {"ids": missing}):
            tree = parse_tree(text) if text else None
            tables = tables_in(tree) if tree is not None else set()
            labels = frozenset(table_label(schema, name) for schema, name in tables)
            domain = self.classifier.domain_of_tables(tables)
            self._described[int(queryid)] = (sanitize(text, self.cfg.max_text_chars), domain,
                                             labels)
        while len(self._described) > self._cache_size:
            self._described.popitem(last=False)

    def _upcoming_weddings(self, session: Session, now: float) -> int | None:
        """Weddings in the next 7 days (cached a minute); None when the query fails."""
        if self._upcoming is not None and now - self._upcoming[0] < 60:
            return self._upcoming[1]
        try:
            rows = session.query(self.cfg.upcoming_weddings_sql, {"tz": self.settings.timezone})
            count: int | None = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        except QueryFailed as exc:
            log.warning("upcoming-weddings query failed (%s); ranking wedding domains first", exc)
            count = None
        self._upcoming = (now, count)
        return count
