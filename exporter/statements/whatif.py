"""What-if planning: the generic plan's estimated cost of a statement, with and without one
hypothetical index (HypoPG). Only statements that passed :mod:`exporter.statements.gate`
get here, and every table in their text is named with its schema.

PostgreSQL 15 has no ``EXPLAIN (GENERIC_PLAN)``: the text is ``PREPARE``d (the server
infers the ``$n`` types), ``EXPLAIN (FORMAT JSON) EXECUTE``d with NULL arguments under
``plan_cache_mode = force_generic_plan``, and deallocated.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from .candidates import index_candidates
from .classify import Table
from .ranking import helps

PREPARED = "dbhealth_advisor_plan"


class TableInfo:
    def __init__(self, row: tuple[Any, ...]):
        (_, _, self.schema, self.name, self.oid, self.reltuples, columns, indexes,
         self.seq_scan, self.idx_scan, self.live_rows) = row
        self.columns: set[str] = set(columns or [])
        self.indexes: list[tuple[str, ...]] = [tuple(i.split(",")) for i in indexes or []]

    def indexed(self, columns: tuple[str, ...]) -> bool:
        return any(index[: len(columns)] == columns for index in self.indexes)


def sqlstate_label(exc: BaseException) -> str:
    state = getattr(getattr(exc, "diag", None), "sqlstate", None)
    return f"{type(exc).__name__}[{state}]" if state else type(exc).__name__


def _one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


# Never an index on the system catalogs, whatever the exporter's own queries cost.
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})


def best_index(conn: psycopg.Connection[Any], hypopg: str, text: str, before: float,
               tables: dict[Table, TableInfo], by_table: dict[Table, list[str]],
               min_saving_ratio: float, skipped: dict[str, int],
               deadline: float) -> tuple[TableInfo, tuple[str, ...], float] | None:
    """The hypothetical index (HypoPG in schema ``hypopg``) that makes one statement cheapest,
    if one cuts its estimated cost ``before`` by ``min_saving_ratio``: (table, columns, after)."""
    for width in (1, 2):  # dexter: single columns first, pairs only if none is enough
        winner: tuple[float, TableInfo, tuple[str, ...]] | None = None
        for ref, columns in by_table.items():
            info = tables.get(ref)
            if info is None or info.schema in SYSTEM_SCHEMAS:
                continue
            for cand in index_candidates(columns[:4], max_columns=width):
                if len(cand) != width or info.indexed(cand):
                    continue
                if time.monotonic() > deadline:
                    skipped["run_time_budget"] = skipped.get("run_time_budget", 0) + 1
                    return None
                after = hypothetical_cost(conn, hypopg, text, info, cand, skipped)
                if helps(before, after, min_saving_ratio) and after is not None \
                        and (winner is None or after < winner[0]):
                    winner = (after, info, cand)
        if winner is not None:
            after, info, cand = winner
            return info, cand, after
    return None


def hypothetical_cost(conn: psycopg.Connection[Any], hypopg: str, text: str, info: TableInfo,
                      columns: tuple[str, ...], skipped: dict[str, int]) -> float | None:
    """The plan's cost with one hypothetical index on ``columns``."""
    ddl = sql.SQL("CREATE INDEX ON {}.{} ({})").format(
        sql.Identifier(info.schema), sql.Identifier(info.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    try:
        with conn.transaction():
            conn.execute(f"SELECT * FROM {hypopg}.hypopg_create_index(%s::text)",
                         [ddl.as_string(conn)])
        return cost(conn, text, skipped)
    except psycopg.Error as exc:
        skipped[sqlstate_label(exc)] = skipped.get(sqlstate_label(exc), 0) + 1
        return None
    finally:
        conn.execute(f"SELECT {hypopg}.hypopg_reset()")

def cost(conn: psycopg.Connection[Any], text: str, skipped: dict[str, int]) -> float | None:
    """Estimated total cost of the generic plan; None when it cannot be planned."""
    plan = generic_plan(conn, text, skipped)
    return None if plan is None else float(plan["Total Cost"])


def generic_plan(conn: psycopg.Connection[Any], text: str,
                 skipped: dict[str, int]) -> dict[str, Any] | None:
    """The generic plan's top node (EXPLAIN FORMAT JSON); None when it cannot be planned."""
    prepared = False
    try:
        with conn.transaction():  # a savepoint: one failure leaves the run going
            conn.execute(f"PREPARE {PREPARED} AS {text}")
            prepared = True
            count = _one(conn, "SELECT pg_catalog.cardinality(parameter_types) "
                               "FROM pg_catalog.pg_prepared_statements WHERE name = %s",
                         [PREPARED])
            args = f"({', '.join(['NULL'] * int(count))})" if count else ""
            plan = _one(conn, f"EXPLAIN (FORMAT JSON) EXECUTE {PREPARED}{args}")
        top: dict[str, Any] = plan[0]["Plan"]
        return top
    except psycopg.Error as exc:
        skipped[sqlstate_label(exc)] = skipped.get(sqlstate_label(exc), 0) + 1
        return None
    finally:
        if prepared:  # PREPARE is not transactional: it survives a rolled-back savepoint
            try:
                with conn.transaction():
                    conn.execute(f"DEALLOCATE {PREPARED}")
            except psycopg.Error:
                pass
