"""The restore drill: the newest backup, restored into a throwaway database, timed, dropped.

The RTO figure runs from the first byte downloaded to the last completeness check
(download + restore + checks). Refused, whatever the settings say, when the scratch
server is production (same system identifier: the same cluster, a standby, or a
physical copy) or when production cannot be asked; and when the drill database
exists but was not made by a drill (no marker comment). A failed restore is a failed
verification, with pg_restore's error text sanitized into the audit row.
"""

from __future__ import annotations

import time
from dataclasses import replace

import psycopg
from psycopg import sql

from ..db import (
    Conn,
    ServerIdentity,
    connect,
    describe_error,
    production_connection,
    server_identity,
    with_database,
)
from ..errors import CouldNotRun, RestoreFailed, RestoreRefused
from ..model import Backup, CheckOutcome, Finding, Status
from ..sources.base import RestoreTarget
from . import completeness
from .context import RunContext

CHECK = "restore"
MARKER = "dbhealth restore drill"
USER_OBJECTS_SQL = ("SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'")
EXISTING_SQL = ("SELECT pg_catalog.shobj_description(oid, 'pg_database') FROM pg_catalog.pg_database "
                "WHERE datname = %s")


def refusal(production: ServerIdentity | None, scratch: ServerIdentity) -> str | None:
    """Pure: why a restore onto ``scratch`` must not happen, or None."""
    if production is None:
        return "cannot confirm that the scratch server is not production (production did not answer)"
    if production.system_identifier == scratch.system_identifier:
        return ("the scratch server is the production server or a physical copy of it "
                f"(same system identifier {scratch.system_identifier})")
    return None


def target_action(exists: bool, comment: str | None, name: str) -> str:
    """Pure: "create", "recreate" (our own leftover), or raise RestoreRefused."""
    if not exists:
        return "create"
    if comment and comment.startswith(MARKER):
        return "recreate"
    raise RestoreRefused(f"database {name} exists on the scratch server and was not made by a drill: "
                         "refusing to restore into it or drop it")


def _prepare(admin: Conn, name: str, run_id: str) -> None:
    row = admin.execute(EXISTING_SQL, (name,)).fetchone()
    ident = sql.Identifier(name)
    if target_action(row is not None, row[0] if row else None, name) == "recreate":
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
    admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'").format(ident))
    marker = sql.Literal(f"{MARKER}: run {run_id}")
    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, marker))


def _ensure_empty(dsn: str, timeout: float) -> None:
    with connect(dsn, timeout, read_only=True) as conn:
        row = conn.execute(USER_OBJECTS_SQL).fetchone()
    if row and row[0]:
        raise RestoreRefused(f"the drill database is not empty ({row[0]} relations): refusing to restore")


def backup_to_restore(ctx: RunContext) -> tuple[Backup | None, Finding | None]:
    """The drill region's newest backup, or the finding saying why there is none to restore."""
    role = ctx.settings.drill.region
    missing = ctx.unavailable(CHECK, role)
    backup = ctx.inventory.newest(role)
    if missing is None and backup is None:
        missing = Finding(check=CHECK, status=Status.FAILED, region=ctx.inventory.regions.get(role),
                          detail="no backup to restore")
    return (None, missing) if missing is not None else (backup, None)


def run(ctx: RunContext, with_completeness: bool) -> list[CheckOutcome]:
    started = time.monotonic()
    backup, missing = backup_to_restore(ctx)
    if missing is not None:
        return outcomes(ctx, [missing], [], with_completeness, started, str(missing.detail))
    assert backup is not None
    try:
        restored, checks = _drill(ctx, backup, with_completeness)
    except (CouldNotRun, psycopg.Error) as exc:
        detail = str(exc) if isinstance(exc, CouldNotRun) else f"scratch server: {describe_error(exc)}"
        prefix = "refused: " if isinstance(exc, RestoreRefused) else ""
        finding = Finding.about(CHECK, Status.ERROR, backup, detail=prefix + detail,
                                duration_seconds=round(time.monotonic() - started, 3))
        return outcomes(ctx, [finding], [], with_completeness, started, prefix + detail)
    except RestoreFailed as exc:
        finding = Finding.about(CHECK, Status.FAILED, backup, detail=str(exc),
                                duration_seconds=round(time.monotonic() - started, 3))
        return outcomes(ctx, [finding], [], with_completeness, started, f"did not restore: {exc}")
    rto = restored.duration_seconds or 0.0
    target = ctx.settings.targets.rto_seconds
    summary = (f"{backup.backup_id} restored in {rto / 60:.1f} min "
               f"({', '.join(f'{k} {v:.1f}s' for k, v in restored.data['phases'].items())})"
               + (f": over the {target / 60:.0f} min RTO target" if rto > target else ""))
    return outcomes(ctx, [restored], checks, with_completeness, started, summary)


def _drill(ctx: RunContext, backup: Backup, with_completeness: bool) -> tuple[Finding, list[Finding]]:
    s = ctx.settings
    try:
        with production_connection(s.production.url, s.production.connect_timeout_seconds) as conn:
            production: ServerIdentity | None = server_identity(conn)
    except psycopg.Error:
        production = None
    name = s.drill.database
    target_dsn = with_database(s.scratch.url, name)
    with connect(s.scratch.url, s.scratch.connect_timeout_seconds, read_only=False) as admin:
        reason = refusal(production, server_identity(admin))
        if reason:
            raise RestoreRefused(reason)
        _prepare(admin, name, ctx.run_id)
        try:
            _ensure_empty(target_dsn, s.scratch.connect_timeout_seconds)
            ctx.progress(f"restore: {backup.backup_id} from {backup.region} into {name} "
                         f"({s.drill.jobs} jobs)")
            clock = time.monotonic()
            timings = ctx.sources[s.drill.region].restore(
                backup, RestoreTarget(target_dsn, s.drill.jobs, s.drill.work_dir, s.drill.timeout_seconds),
                ctx.progress)
            checks: list[Finding] = []
            if with_completeness:
                checks_started = time.monotonic()
                checks = completeness.check(ctx, backup, target_dsn)
                timings.phases["checks"] = round(time.monotonic() - checks_started, 3)
            rto = time.monotonic() - clock
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finding = Finding.about(CHECK, Status.PASSED, backup, duration_seconds=round(rto, 3), data={
        "phases": timings.phases, "rto_target_seconds": s.targets.rto_seconds, "jobs": s.drill.jobs,
        "over_target": rto > s.targets.rto_seconds})
    return finding, checks


def outcomes(ctx: RunContext, restore: list[Finding], checks: list[Finding], with_completeness: bool,
              started: float, summary: str) -> list[CheckOutcome]:
    ctx.record(restore + checks)
    outcomes = [CheckOutcome(CHECK, restore, summary, time.monotonic() - started)]
    if not with_completeness:
        return outcomes
    if checks:
        bad = [f for f in checks if f.status != Status.PASSED]
        text = (f"{len(checks) - len(bad)}/{len(checks)} checks pass"
                + "".join(f"; {f.detail}" for f in bad[:4]))
    else:  # nothing restored, nothing to compare
        text = f"not run: {restore[0].detail or 'the backup did not restore'}"
        checks = [replace(restore[0], check=completeness.CHECK, status=Status.ERROR, detail=text,
                          duration_seconds=None, data={})]
    outcomes.append(CheckOutcome(completeness.CHECK, checks, text))
    return outcomes
