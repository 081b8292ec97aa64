"""The point-in-time restore drill of a pgBackRest repository, timed, then the completeness checks.

The newest backup of ``drill.region`` is restored to the end of the archived WAL, or
to ``pgbackrest.drill.target_time`` / a random time between the newest backup's end
and the newest gap-free segment (``random_target``). The RTO runs from the start of
``pgbackrest restore`` to promotion plus the completeness checks, which compare
production's rows as of the point the copy was recovered to (the target, else the
copy's last replayed commit). The binary missing means "could not run": the other
checks still give their verdicts.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from ..db import database_name, describe_error
from ..errors import CouldNotRun, RestoreFailed
from ..model import Backup, CheckOutcome, Finding, Status
from ..pgbackrest.restore import restored
from ..pgtools import tool
from ..sources.pgbackrest import PgBackRestSource
from . import completeness
from .context import RunContext
from .drill import CHECK, backup_to_restore, outcomes
from .wal import window


def pick_target(newest_backup_end: datetime, window_end: datetime | None,
                rng: random.Random) -> datetime | None:
    """Pure: a random time after the backup's end and no later than the newest gap-free WAL."""
    if window_end is None or window_end <= newest_backup_end:
        return None
    span = (window_end - newest_backup_end).total_seconds()
    return newest_backup_end + timedelta(seconds=rng.uniform(0, span))


def _target(ctx: RunContext, source: PgBackRestSource, backup: Backup) -> datetime | None:
    d = ctx.settings.pgbackrest.drill if ctx.settings.pgbackrest else None
    if d is None:
        return None
    if d.target_time is not None:
        return d.target_time
    if not d.random_target:
        return None
    archive = source.archive(ctx.progress)
    cont, _, _ = window(archive, [backup], source)
    return pick_target(backup.taken_at, cont.newest.archived_at if cont.newest else None, random.Random())


def run(ctx: RunContext, with_completeness: bool) -> list[CheckOutcome]:
    started = time.monotonic()
    backup, missing = backup_to_restore(ctx)
    if missing is not None:
        return outcomes(ctx, [missing], [], with_completeness, started, str(missing.detail))
    assert backup is not None and ctx.settings.pgbackrest is not None
    source = ctx.sources[ctx.settings.drill.region]
    assert isinstance(source, PgBackRestSource)
    try:
        target = _target(ctx, source, backup)
        finding, checks = _drill(ctx, source, backup, target, with_completeness)
    except CouldNotRun as exc:
        finding = Finding.about(CHECK, Status.ERROR, backup, detail=f"could not run: {exc}",
                                duration_seconds=round(time.monotonic() - started, 3))
        return outcomes(ctx, [finding], [], with_completeness, started, f"could not run: {exc}")
    except (RestoreFailed, psycopg.Error) as exc:
        text = str(exc) if isinstance(exc, RestoreFailed) else f"restored copy: {describe_error(exc)}"
        finding = Finding.about(CHECK, Status.FAILED, backup, detail=text,
                                duration_seconds=round(time.monotonic() - started, 3))
        return outcomes(ctx, [finding], [], with_completeness, started, f"did not restore: {text}")
    rto = finding.duration_seconds or 0.0
    point = finding.data.get("recovered_to")
    summary = (f"{backup.backup_id} restored to {point or 'the end of WAL'} in {rto / 60:.1f} min ("
               + ", ".join(f"{k} {v:.1f}s" for k, v in finding.data["phases"].items()) + ")"
               + (f": over the {ctx.settings.targets.rto_seconds / 60:.0f} min RTO target"
                  if rto > ctx.settings.targets.rto_seconds else ""))
    return outcomes(ctx, [finding], checks, with_completeness, started, summary)


def server_bindir(ctx: RunContext, source: PgBackRestSource, backup: Backup) -> Path:
    """The server binaries of the backup's major version (a 15 cluster needs a 15 pg_ctl)."""
    if ctx.settings.drill.pg_bindir:
        return Path(ctx.settings.drill.pg_bindir)
    manifest = source.manifests.get(backup.backup_id)
    versioned = Path(f"/usr/lib/postgresql/{manifest.version if manifest else '?'}/bin")
    return versioned if (versioned / "pg_ctl").exists() else Path(tool("pg_ctl")).parent


def _drill(ctx: RunContext, source: PgBackRestSource, backup: Backup, target: datetime | None,
           with_completeness: bool) -> tuple[Finding, list[Finding]]:
    s = ctx.settings
    assert s.pgbackrest is not None
    clock = time.monotonic()
    checks: list[Finding] = []
    with restored(s.pgbackrest, source.region_settings, backup.backup_id, target,
                  database_name(s.production.url), server_bindir(ctx, source, backup), ctx.progress) as copy:
        point = target or copy.replayed_to or backup.taken_at
        if with_completeness:
            checks_started = time.monotonic()
            exact = (target or copy.replayed_to) is not None  # a recovery time, not a name
            checks = completeness.check(ctx, replace(backup, taken_at=point, taken_at_exact=exact),
                                        copy.dsn)
            copy.phases["checks"] = round(time.monotonic() - checks_started, 3)
        rto = time.monotonic() - clock
    finding = Finding.about(CHECK, Status.PASSED, backup, duration_seconds=round(rto, 3), data={
        "phases": copy.phases, "rto_target_seconds": s.targets.rto_seconds, "target_time": target,
        "recovered_to": point.isoformat(), "over_target": rto > s.targets.rto_seconds, "tool": "pgbackrest"})
    return finding, checks
