"""Index advisor: what-if planning of the costliest statements with hypothetical indexes (dexter-style).

Every ``statements.advisor.interval_seconds`` a background thread borrows one
connection from the exporter's pool and, inside one READ ONLY transaction with
tight ``statement_timeout`` / ``lock_timeout``:

1. reads the candidate SELECTs of this database from pg_stat_statements: the top
   ones by total time, the slow ones and the ones scanning large tables
   (:mod:`.ranking`), and the large tables that are mostly sequentially scanned;
2. plans each statement generically: PostgreSQL 15 has no
   ``EXPLAIN (GENERIC_PLAN)``, so it runs ``PREPARE`` on the normalized text
   (the server infers the ``$n`` types), ``EXPLAIN (FORMAT JSON) EXECUTE`` with
   NULL arguments under ``plan_cache_mode = force_generic_plan``, and
   ``DEALLOCATE``;
3. with HypoPG installed (``CREATE EXTENSION hypopg``, by an admin), plans it
   again with one hypothetical index at a time on the columns its WHERE/JOIN
   clauses filter on: 1-column candidates, then 2-column ones; judged per statement
   and in total by :mod:`.planner`.
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
from .advisor_sql import CANDIDATES_SQL, EXTENSIONS_SQL, RESET_SQL, TABLES_SQL, TEXTS_SQL
from .candidates import predicate_columns
from .classify import Table, parse_tree
from .findings import LARGE_SEQ_SCANNED_SQL
from .gate import PLANNABLE_KINDS, TRUST_SQL, plannable, qualified, resolve
from .planner import Key, Planner
from .plans import PlanChange, Shape, fold
from .ranking import Candidate, choose, ms_per_hour
from .suggestions import AdvisorResult, IndexSuggestion, seq_scan_finding
from .whatif import TableInfo, sqlstate_label

if TYPE_CHECKING:
    from ..db import Database
    from .settings import StatementsSettings

log = logging.getLogger(__name__)

class IndexAdvisor:
    def __init__(self, settings: StatementsSettings, database: Database,
                 wedding_day: Callable[[], bool]):
        self.settings = settings
        self.database = database
        self.wedding_day = wedding_day
        self.latest: AdvisorResult | None = None
        self._hypopg: str | None = None  # HypoPG's schema, quoted, when it is installed
        # queryid → (when, total_ms) at the last run: the per-hour rates of the next one
        self._previous: dict[int, tuple[float, float]] = {}
        self._rates: dict[int, float] = {}
        self._shapes: dict[int, Shape] = {}  # queryid → baseline plan shape (plans.fold)
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
        started = time.monotonic()
        deadline = started + cfg.max_run_seconds
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
            ext = quote_ident(schemas["pg_stat_statements"])
            chosen = self._candidates(conn, ext, threshold)
            texts = dict(conn.execute(TEXTS_SQL.format(ext=ext),
                                      {"queryids": [c.queryid for c in chosen]}).fetchall())
            large = conn.execute(LARGE_SEQ_SCANNED_SQL,
                                 {"large": self.settings.large_table_rows}).fetchall()
            findings = tuple(seq_scan_finding(r) for r in large)
            large_tables = {(r[0], r[1]) for r in large}
            planner = Planner(conn, self._hypopg, cfg.min_saving_ratio, skipped, deadline)
            heuristic: dict[Key, IndexSuggestion] = {}
            for candidate in chosen:
                if time.monotonic() > deadline:
                    skipped["run_time_budget"] = skipped.get("run_time_budget", 0) + 1
                    continue
                planned = self._gate(conn, texts.get(candidate.queryid) or "", skipped)
                if planned is None:
                    continue
                text, resolved = planned
                tree = parse_tree(text)
                if tree is None:  # deparsed by pglast itself: cannot happen, but never plan it
                    skipped["unparsable"] = skipped.get("unparsable", 0) + 1
                    continue
                tables = self._tables(conn, {(s, n) for s, n in resolved})
                by_table = predicate_columns(tree, _columns_lookup(tables))
                if self._hypopg is not None:
                    planner.plan(candidate, self._rates[candidate.queryid], text, tables,
                                 by_table, self.settings.large_table_rows)
                else:
                    planner.evaluated += 1
                    planner.generic_cost(candidate.queryid, text, tables,
                                         self.settings.large_table_rows)
                    for s in self._heuristic(candidate.queryid, tables, by_table, large_tables):
                        key = (s.schema, s.table, s.columns)
                        old = heuristic.get(key)
                        heuristic[key] = _with_queryids(s, (*(old.queryids if old else ()),
                                                            *s.queryids))
            if self._hypopg is not None:
                planner.cross_check()
                suggestions = planner.suggestions(cfg.min_seconds_saved_per_hour)
                conn.execute(f"SELECT {self._hypopg}.hypopg_reset()")
            else:
                suggestions = list(heuristic.values())
        return AdvisorResult(time.time(), self._hypopg is not None, threshold, planner.evaluated,
                             tuple(suggestions), findings, None, skipped,
                             time.monotonic() - started, self._plan_changes(planner))

    def _plan_changes(self, planner: Planner) -> tuple[PlanChange, ...]:
        """Fold this run's plan shapes into the baselines; the regressions they show."""
        changes = []
        for queryid, (current, large) in planner.shapes.items():
            self._shapes[queryid], regressed = fold(self._shapes.get(queryid), current, large)
            changes += [PlanChange(queryid, t, "index", "seq") for t in regressed]
        if len(self._shapes) > 10 * self.settings.advisor.max_statements:  # bounded
            self._shapes = {q: self._shapes[q] for q in planner.shapes}
        return tuple(changes)

    def _candidates(self, conn: psycopg.Connection[Any], ext: str,
                    threshold: float) -> list[Candidate]:
        """The statements to plan (ranking.choose), and each one's execution time per hour."""
        cfg = self.settings.advisor
        rows = conn.execute(CANDIDATES_SQL.format(ext=ext), {
            "limit": cfg.max_statements, "threshold": threshold,
            "blocks": cfg.large_scan_blocks_per_call, "cap": 4 * cfg.max_statements}).fetchall()
        chosen = choose([Candidate(int(q), c, t, b) for q, c, t, b in rows],
                        limit=cfg.max_statements, threshold_ms=threshold,
                        large_scan_blocks=cfg.large_scan_blocks_per_call)
        try:
            with conn.transaction():
                row = conn.execute(RESET_SQL.format(ext=ext)).fetchone()
        except psycopg.Error:  # pg_stat_statements before 1.9: no pg_stat_statements_info
            row = None
        since_reset = row[0] if row else None
        now = time.monotonic()
        self._rates = {c.queryid: ms_per_hour(c.total_ms, since_reset_seconds=since_reset,
                                              previous=self._previous.get(c.queryid), now=now)
                       for c in chosen}
        self._previous = {c.queryid: (now, c.total_ms) for c in chosen}
        return chosen

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
