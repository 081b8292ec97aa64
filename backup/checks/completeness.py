"""Wedding-data completeness of the restored copy, against production.

Per configured table: production's rows that existed at the backup's consistent
point (``created_column <= taken_at`` to the second) against the restored count, within
``tolerance_ratio`` (at least ``tolerance_rows``); tables without a creation column
compare against production's total with ``growth_allowance_per_hour`` per hour of
backup age on top. The newest creation time in the copy must be within
``max_newest_lag_seconds`` of production's newest before the backup. The orphan
queries (guests without a wedding, bookings without a vendor, …) must count zero in
the copy. Only counts and times are recorded: never a row's content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ..db import Conn, connect, describe_error
from ..model import Backup, Finding, Status
from ..settings import CompletenessSettings, TableSpec

if TYPE_CHECKING:
    from .context import RunContext

Result = tuple[str, Status, str, dict[str, object]]

CHECK = "completeness"


@dataclass(frozen=True)
class TableCounts:
    total: int
    at_backup: int | None           # rows created up to the backup's time (production only)
    newest: datetime | None         # newest creation time (production: up to the backup's time)
    newest_update: datetime | None = None


def table_verdict(spec: TableSpec, prod: TableCounts, copy: TableCounts, age_hours: float,
                  settings: CompletenessSettings) -> tuple[Status, str, dict[str, object]]:
    """Pure: does the copy hold what production held when the backup was taken?"""
    if prod.at_backup is not None:
        expected, ratio = prod.at_backup, settings.tolerance_ratio
    else:
        expected = prod.total
        ratio = settings.tolerance_ratio + settings.growth_allowance_per_hour * max(age_hours, 0.0)
    allowed = max(settings.tolerance_rows, int(ratio * expected))
    diff = copy.total - expected
    data: dict[str, object] = {"restored_rows": copy.total, "expected_rows": expected,
                               "production_rows": prod.total, "allowed_difference": allowed,
                               "newest_restored": copy.newest, "newest_production": prod.newest,
                               "newest_update_restored": copy.newest_update}
    if abs(diff) > allowed:
        return Status.FAILED, (f"{spec.name}: {copy.total:,} rows restored, {expected:,} expected "
                               f"(difference {diff:+,}, allowed ±{allowed:,})"), data
    if prod.newest is not None:
        if copy.newest is None:
            return Status.FAILED, f"{spec.name}: no {spec.created_column} in the restored copy", data
        lag = (prod.newest - copy.newest).total_seconds()
        if lag > settings.max_newest_lag_seconds:
            return Status.FAILED, (f"{spec.name}: newest row in the copy is {lag / 3600:.1f} h older than "
                                   "production's at the backup's time"), data
    return Status.PASSED, f"{spec.name}: {copy.total:,} rows (expected {expected:,})", data


def count_statement(spec: TableSpec, at_backup: bool) -> sql.Composed:
    """One statement per table and side; identifiers quoted, the time a parameter."""
    schema, table = spec.schema_and_table
    name = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    created = sql.Identifier(spec.created_column) if spec.created_column else None
    updated = sql.Identifier(spec.updated_column) if spec.updated_column else None
    null: sql.Composable = sql.SQL("NULL")
    filtered: sql.Composable
    newest: sql.Composable
    if created is not None and at_backup:
        filtered = sql.SQL("pg_catalog.count(*) FILTER (WHERE {c} <= %(t)s)").format(c=created)
        newest = sql.SQL("pg_catalog.max({c}) FILTER (WHERE {c} <= %(t)s)").format(c=created)
    else:
        filtered = null
        newest = sql.SQL("pg_catalog.max({c})").format(c=created) if created is not None else null
    newest_update: sql.Composable = null
    if updated is not None:
        newest_update = sql.SQL("pg_catalog.max({u})").format(u=updated)
    return sql.SQL("SELECT pg_catalog.count(*), {f}, {n}, {u} FROM {t}").format(
        f=filtered, n=newest, u=newest_update, t=name)


def orphan_verdict(name: str, count: int) -> tuple[Status, str]:
    if count:
        return Status.FAILED, f"{name}: {count:,} orphan rows in the restored copy"
    return Status.PASSED, f"{name}: none"


def findings_for(results: list[Result], base: Finding) -> list[Finding]:
    return [Finding(**{**base.__dict__, "status": status, "detail": detail if status != Status.PASSED
                       else None, "data": {"subject": subject, "summary": detail, **data}})
            for subject, status, detail, data in results]


def check(ctx: RunContext, backup: Backup, copy_dsn: str) -> list[Finding]:
    """Compare the restored copy at ``copy_dsn`` with production; one finding per table and orphan query."""
    s = ctx.settings
    base = Finding.about(CHECK, Status.PASSED, backup)
    if not s.completeness.tables and not s.completeness.orphans:
        return [replace_status(base, Status.ERROR,
                               "no completeness.tables or completeness.orphans configured")]
    age_hours = (ctx.now - backup.taken_at).total_seconds() / 3600
    try:
        prod = connect(s.production.url, s.production.connect_timeout_seconds, read_only=True,
                       statement_timeout=s.production.statement_timeout_seconds)
    except psycopg.Error as exc:
        return [replace_status(base, Status.ERROR, f"production unreachable: {describe_error(exc)}")]
    results: list[Result] = []
    with prod, connect(copy_dsn, s.scratch.connect_timeout_seconds, read_only=True,
                       statement_timeout=s.production.statement_timeout_seconds) as copy:
        for spec in s.completeness.tables:
            results.append(_table(spec, prod, copy, backup, age_hours, s.completeness))
            ctx.progress(f"completeness: {results[-1][2]}")
        for name, query in s.completeness.orphans.items():
            results.append(_orphans(name, query, copy))
    return findings_for(results, base)


# Backup times are known to the second (dump names, pgBackRest's epoch timestamps): a
# row created earlier in that second may well be in the dump.
TIME_RESOLUTION = timedelta(seconds=1)


def consistent_point_bound(taken_at: datetime, exact: bool = False) -> datetime:
    """Pure: the latest creation time a row in the backup can have."""
    return taken_at if exact else taken_at.replace(microsecond=0) + TIME_RESOLUTION


def replace_status(base: Finding, status: Status, detail: str) -> Finding:
    return Finding(**{**base.__dict__, "status": status, "detail": detail})


def _table(spec: TableSpec, prod: Conn,
           copy: Conn, backup: Backup, age_hours: float,
           settings: CompletenessSettings) -> Result:
    params = {"t": consistent_point_bound(backup.taken_at, backup.taken_at_exact)}
    try:
        row = prod.execute(count_statement(spec, at_backup=True), params).fetchone()
    except psycopg.Error as exc:
        return spec.name, Status.ERROR, f"{spec.name}: production: {describe_error(exc)}", {}
    assert row is not None
    in_production = TableCounts(int(row[0]), _int(row[1]), row[2], row[3])
    try:
        row = copy.execute(count_statement(spec, at_backup=False), params).fetchone()
    except pgerrors.UndefinedTable:
        return spec.name, Status.FAILED, f"{spec.name}: missing in the restored copy", {}
    except psycopg.Error as exc:
        return spec.name, Status.ERROR, f"{spec.name}: restored copy: {describe_error(exc)}", {}
    assert row is not None
    in_copy = TableCounts(int(row[0]), None, row[2], row[3])
    return (spec.name, *table_verdict(spec, in_production, in_copy, age_hours, settings))


def _orphans(name: str, query: str, copy: Conn) -> Result:
    try:
        # Configured SQL (validated as a SELECT at start), run read-only on the copy.
        row = copy.execute(query.encode()).fetchone()
    except psycopg.Error as exc:
        return name, Status.ERROR, f"{name}: {describe_error(exc)}", {}
    count = int(row[0]) if row and row[0] is not None else 0
    status, sentence = orphan_verdict(name, count)
    return name, status, sentence, {"orphans": count}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
