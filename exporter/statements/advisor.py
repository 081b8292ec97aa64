"""Index advisor: what-if planning of the slow statements with hypothetical indexes (dexter-style).

Every ``statements.advisor.interval_seconds`` a background thread borrows one
connection from the exporter's pool and, inside one READ ONLY transaction with
tight ``statement_timeout`` / ``lock_timeout``:

1. reads the slow SELECTs of this database from pg_stat_statements (mean time
   over the slow threshold, 50% stricter on wedding days) and the large tables
   that are mostly sequentially scanned (pg_stat_user_tables);
2. plans each statement generically: PostgreSQL 15 has no
   ``EXPLAIN (GENERIC_PLAN)``, so it runs ``PREPARE`` on the normalized text
   (the server infers the ``$n`` types), ``EXPLAIN (FORMAT JSON) EXECUTE`` with
   NULL arguments under ``plan_cache_mode = force_generic_plan``, and
   ``DEALLOCATE``;
3. with HypoPG installed (``CREATE EXTENSION hypopg``, by an admin), plans it
   again with one hypothetical index at a time on the columns its WHERE/JOIN
   clauses filter on: 1-column candidates, then 2-column ones. An index is
   suggested only when it cuts the estimated cost by ``min_saving_ratio`` (half).
   Without HypoPG, the large, mostly seq-scanned tables give heuristic
   suggestions (no estimated saving).

Nothing is ever created: hypothetical indexes live in the session's memory and
are dropped (``hypopg_reset()``) after each plan, every prepared plan is
deallocated, settings are ``SET LOCAL``; after a failed run the connection is
closed instead of reused. Errors are reported by SQLSTATE only: a server
message may quote a literal.

Nothing another role wrote runs while planning: a statement is planned only
after the gates of :mod:`exporter.statements.gate` (catalog code only, tables
named with their schema, tables and their expressions owned by trusted roles).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg

from ..errors import DatabaseUnavailable
from ..sqlcheck import quote_ident
from .candidates import predicate_columns
from .classify import Table, parse_tree
from .findings import LARGE_SEQ_SCANNED_SQL
from .gate import PLANNABLE_KINDS, TRUST_SQL, plannable, qualified, resolve
from .suggestions import AdvisorResult, IndexSuggestion, seq_scan_finding
from .whatif import TableInfo, sqlstate_label, what_if

if TYPE_CHECKING:
    from ..db import Database
    from .settings import StatementsSettings

log = logging.getLogger(__name__)

# {ext}: pg_stat_statements' schema, read from pg_extension.
SLOW_SQL = """
SELECT s.queryid, pg_catalog.min(s.query), pg_catalog.sum(s.calls)::float8,
       (pg_catalog.sum(s.total_exec_time) / nullif(pg_catalog.sum(s.calls), 0))::float8 AS mean_ms
FROM {ext}.pg_stat_statements(true) s
WHERE s.toplevel AND s.queryid IS NOT NULL
  AND s.dbid = (SELECT oid FROM pg_catalog.pg_database
                WHERE datname = pg_catalog.current_database())
GROUP BY s.queryid
HAVING pg_catalog.sum(s.total_exec_time) / nullif(pg_catalog.sum(s.calls), 0) >= %(threshold)s
ORDER BY pg_catalog.sum(s.total_exec_time) DESC
LIMIT %(limit)s
"""
EXTENSIONS_SQL = """
SELECT e.extname::text, n.nspname::text
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname IN ('pg_stat_statements', 'hypopg')
"""

# Tables named (schema, relation) as the gate resolved them.
TABLES_SQL = """
SELECT t.schemaname, t.relname, n.nspname, c.relname, c.oid, c.reltuples::float8,
       (SELECT pg_catalog.array_agg(a.attname::text) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT pg_catalog.array_agg(cols) FROM (
           SELECT pg_catalog.array_to_string(
                      pg_catalog.array_agg(a.attname::text ORDER BY k.ord), ',') AS cols
           FROM pg_catalog.pg_index i
           CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = c.oid AND i.indisvalid GROUP BY i.indexrelid) ix),
       coalesce(st.seq_scan, 0), coalesce(st.idx_scan, 0), coalesce(st.n_live_tup, 0)
FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]),
               pg_catalog.unnest(%(names)s::text[])) AS t(schemaname, relname)
JOIN pg_catalog.pg_namespace n ON n.nspname = t.schemaname
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.relname
LEFT JOIN pg_catalog.pg_stat_user_tables st ON st.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
"""

class IndexAdvisor:
    def __init__(self, settings: StatementsSettings, database: Database,
                 wedding_day: Callable[[], bool]):
        self.settings = settings
        self.database = database
        self.wedding_day = wedding_day
        self.latest: AdvisorResult | None = None
        self._hypopg: str | None = None  # HypoPG's schema, quoted, when it is installed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- schedule ---------------------------------------------------------------------------
    def start(self) -> None:
        if not self.settings.advisor.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="dbhealth-advisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        if self._stop.wait(self.settings.advisor.initial_delay_seconds):
            return
        while True:
            self.run_once()
            if self._stop.wait(self.settings.advisor.interval_seconds):
                return

    # -- one run ----------------------------------------------------------------------------
    def run_once(self) -> AdvisorResult:
        threshold = self.settings.slow_threshold(self.wedding_day())
        try:
            # A failed run may leave a prepared plan or hypothetical index behind in the
            # session: borrow() then closes the connection, the pool replaces it.
            with self.database.borrow() as conn:
                result = self._advise(conn, threshold)
        except DatabaseUnavailable:
            result = AdvisorResult(time.time(), False, threshold, error="no pool connection")
        except Exception as exc:  # the thread must survive anything; no message: PII
            level = logging.WARNING if isinstance(exc, psycopg.Error) else logging.ERROR
            log.log(level, "index advisor run failed: %s", sqlstate_label(exc))
            result = AdvisorResult(time.time(), False, threshold, error=sqlstate_label(exc))
        self.latest = result
        log.info("index advisor: %d slow statement(s) evaluated, %d suggestion(s)%s",
                 result.evaluated, len(result.suggestions),
                 "" if result.hypopg or result.error else " (heuristic only: no hypopg)")
        return result

    def _advise(self, conn: psycopg.Connection[Any], threshold: float) -> AdvisorResult:
        cfg = self.settings.advisor
        skipped: dict[str, int] = {}
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {max(1, int(cfg.statement_timeout_seconds * 1000))}")
            conn.execute(f"SET LOCAL lock_timeout = {max(1, int(cfg.lock_timeout_seconds * 1000))}")
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            schemas = dict(conn.execute(EXTENSIONS_SQL).fetchall())
            if "pg_stat_statements" not in schemas:
                raise psycopg.errors.UndefinedFunction("pg_stat_statements is not created")
            self._hypopg = quote_ident(schemas["hypopg"]) if "hypopg" in schemas else None
            hypopg = self._hypopg is not None
            slow = conn.execute(SLOW_SQL.format(ext=quote_ident(schemas["pg_stat_statements"])),
                                {"threshold": threshold, "limit": cfg.max_statements}).fetchall()
            large = conn.execute(LARGE_SEQ_SCANNED_SQL,
                                 {"large": self.settings.large_table_rows}).fetchall()
            findings = tuple(seq_scan_finding(r) for r in large)
            large_tables = {(r[0], r[1]) for r in large}
            best: dict[tuple[str, str, tuple[str, ...]], IndexSuggestion] = {}
            evaluated = 0
            give_up = time.monotonic() + cfg.max_run_seconds
            for queryid, text, _calls, _mean in slow:
                if time.monotonic() > give_up:
                    skipped["run_time_budget"] = skipped.get("run_time_budget", 0) + 1
                    continue
                planned = self._gate(conn, text or "", skipped)
                if planned is None:
                    continue
                text, resolved = planned
                tree = parse_tree(text)
                if tree is None:  # deparsed by pglast itself: cannot happen, but never plan it
                    skipped["unparsable"] = skipped.get("unparsable", 0) + 1
                    continue
                tables = self._tables(conn, {(s, n) for s, n in resolved})
                by_table = predicate_columns(tree, _columns_lookup(tables))
                evaluated += 1
                if hypopg:
                    found = what_if(conn, self._hypopg or "", queryid, text, tables, by_table,
                                    cfg.min_saving_ratio, skipped)
                else:
                    found = self._heuristic(queryid, tables, by_table, large_tables)
                for s in found:
                    key = (s.schema, s.table, s.columns)
                    old = best.get(key)
                    if old is None or (s.saving_ratio or 0) > (old.saving_ratio or 0):
                        merged = old.queryids if old else ()
                        best[key] = _with_queryids(s, (*merged, *s.queryids))
                    else:
                        best[key] = _with_queryids(old, (*old.queryids, *s.queryids))
            if hypopg:
                conn.execute(f"SELECT {self._hypopg}.hypopg_reset()")
        ordered = sorted(best.values(), key=lambda s: -(s.saving_ratio or 0))
        return AdvisorResult(time.time(), hypopg, threshold, evaluated, tuple(ordered),
                             findings, None, skipped)

    def _gate(self, conn: psycopg.Connection[Any], text: str,
              skipped: dict[str, int]) -> tuple[str, set[tuple[str, str]]] | None:
        """The text to plan (every table named with its schema) and its tables, or None
        when planning it could run code that is not PostgreSQL's or a trusted role's."""
        statement, why = plannable(text)
        if statement is None:
            skipped[why or "unparsable"] = skipped.get(why or "unparsable", 0) + 1
            return None
        candidates = sorted({(schema, name) for ref_schema, name in statement.relations
                             for schema in ([ref_schema] if ref_schema
                                            else ["pg_catalog", *self.settings.schemas])})
        rows = conn.execute(TRUST_SQL, {
            "trusted": self.settings.advisor.trusted_owners,
            "schemas": [c[0] for c in candidates], "names": [c[1] for c in candidates],
        }).fetchall()
        resolved = resolve(statement.relations, self.settings.schemas,
                           {(r[0], r[1]) for r in rows})
        if resolved is None:
            skipped["unknown_table"] = skipped.get("unknown_table", 0) + 1
            return None
        used = {(schema, name) for (_, name), schema in resolved.items()}
        if any((r[0], r[1]) in used and (r[2] not in PLANNABLE_KINDS or not r[3]) for r in rows):
            skipped["untrusted_code"] = skipped.get("untrusted_code", 0) + 1
            return None
        return qualified(statement, resolved), used

    def _tables(self, conn: psycopg.Connection[Any], refs: set[Table]) -> dict[Table, TableInfo]:
        if not refs:
            return {}
        ordered = sorted(refs, key=lambda t: (t[0] or "", t[1]))
        rows = conn.execute(TABLES_SQL, {"schemas": [t[0] or "" for t in ordered],
                                         "names": [t[1] for t in ordered]}).fetchall()
        return {(r[0] or None, r[1]): TableInfo(r) for r in rows}

    @staticmethod
    def _heuristic(queryid: int, tables: dict[Table, TableInfo], by_table: dict[Table, list[str]],
                   large: set[tuple[str, str]]) -> list[IndexSuggestion]:
        found = []
        for ref, columns in by_table.items():
            info = tables.get(ref)
            if info is None or (info.schema, info.name) not in large:
                continue
            for column in columns:
                if not info.indexed((column,)):
                    found.append(IndexSuggestion(info.schema, info.name, (column,), "heuristic",
                                                 (queryid,)))
                    break
        return found


def _columns_lookup(tables: dict[Table, TableInfo]) -> Callable[[Table], set[str]]:
    return lambda t: tables[t].columns if t in tables else set()


def _with_queryids(s: IndexSuggestion, queryids: tuple[int, ...]) -> IndexSuggestion:
    return IndexSuggestion(s.schema, s.table, s.columns, s.method, tuple(dict.fromkeys(queryids)),
                           s.saving_ratio, s.cost_before, s.cost_after)
