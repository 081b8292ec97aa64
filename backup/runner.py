"""One verification run: lock, discover, check, record, decide the exit code.

Inventory always runs (every check works from it); the restore drill runs when
``restore`` or ``completeness`` is selected (completeness needs the restored copy).
Each check's rows are written when the check ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .audit import run_lock
from .checks import (
    cross_region,
    drill,
    freshness,
    integrity,
    inventory,
    physical_cross_region,
    physical_drill,
    physical_integrity,
    retention,
    wal,
)
from .checks.context import RunContext
from .errors import CouldNotRun
from .model import CheckOutcome, Progress, Status, worst
from .settings import Settings
from .sources.base import BackupSource
from .sources.logical import LogicalS3Source
from .sources.pgbackrest import PgBackRestSource

VERIFIED, FAILED, COULD_NOT_RUN = 0, 1, 2


@dataclass
class RunReport:
    run_id: str
    outcomes: list[CheckOutcome] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return exit_code([o.status for o in self.outcomes], self.error)


def exit_code(statuses: list[Status], error: str | None = None) -> int:
    """Pure: 1 when any check failed (a bad backup is the news), else 2 when any could not run."""
    if Status.FAILED in statuses:
        return FAILED
    if error is not None or Status.ERROR in statuses or not statuses:
        return COULD_NOT_RUN
    return VERIFIED


def build_sources(settings: Settings) -> dict[str, dict[str, BackupSource]]:
    """Per backup kind ("logical", "physical"), the source of each configured region role."""
    out: dict[str, dict[str, BackupSource]] = {}
    if settings.s3 is not None:
        logical: dict[str, BackupSource] = {}
        for role in ("primary", "replica"):
            region = settings.region(role)
            if region is not None:
                logical[role] = LogicalS3Source(
                    region, settings.s3, chunk_bytes=settings.integrity.chunk_bytes,
                    bindir=settings.drill.pg_bindir, progress_interval=settings.progress_interval_seconds)
        out["logical"] = logical
    if settings.pgbackrest is not None:
        repo = settings.pgbackrest.repo
        physical: dict[str, BackupSource] = {}
        for role, region in (("primary", repo.primary), ("replica", repo.replica)):
            if region is not None:
                physical[role] = PgBackRestSource(settings.pgbackrest, region,
                                                  chunk_bytes=settings.integrity.chunk_bytes)
        out["physical"] = physical
    return out


Step = Callable[[RunContext], list[CheckOutcome]]


def _steps(checks: list[str]) -> list[Step]:
    steps: list[Step] = [lambda c: [inventory.run(c)]]
    if "integrity" in checks:
        steps.append(lambda c: [integrity.run(c)])
    if "cross_region" in checks:
        steps.append(lambda c: [cross_region.run(c)])
    if "restore" in checks or "completeness" in checks:
        steps.append(lambda c: drill.run(c, with_completeness="completeness" in checks))
    if "freshness" in checks:
        steps.append(lambda c: [freshness.run(c)])
    if "retention" in checks:
        steps.append(lambda c: [retention.run(c)])
    return steps


def _physical_steps(checks: list[str]) -> list[Step]:
    """pgBackRest keeps its own retention (repo-retention-*); the recovery window is the wal check's."""
    steps: list[Step] = [lambda c: [inventory.run(c)]]
    if "integrity" in checks:
        steps.append(lambda c: [physical_integrity.run(c)])
    if "wal" in checks:
        steps.append(lambda c: [wal.run(c)])
    if "cross_region" in checks:
        steps.append(lambda c: [physical_cross_region.run(c)])
    if "restore" in checks or "completeness" in checks:
        steps.append(lambda c: physical_drill.run(c, with_completeness="completeness" in checks))
    if "freshness" in checks:
        steps.append(lambda c: [freshness.run(c, with_archiver=False)])
    return steps


def run_once(settings: Settings, progress: Progress,
             on_outcome: Callable[[CheckOutcome], None] = lambda _o: None,
             sources: dict[str, dict[str, BackupSource]] | None = None) -> RunReport:
    report = RunReport(run_id=str(uuid.uuid4()))
    started = time.monotonic()
    try:
        with run_lock(settings.audit_url, report.run_id, settings.production.connect_timeout_seconds) as log:
            progress(f"run {report.run_id}: checks {', '.join(settings.checks)}")
            by_kind = sources or build_sources(settings)
            for kind, kind_sources in by_kind.items():
                ctx = RunContext(settings=settings, sources=kind_sources, run_id=report.run_id,
                                 now=datetime.now(UTC), progress=progress)
                steps = _physical_steps(settings.checks) if kind == "physical" else _steps(settings.checks)
                for step in steps:
                    for outcome in step(ctx):
                        outcome.kind = kind
                        log.write(outcome.findings, datetime.now(UTC), kind)
                        report.outcomes.append(outcome)
                        on_outcome(outcome)
            purged = log.purge(settings.audit.retention_days)
            days = settings.audit.retention_days
            progress(f"run {report.run_id}: {log.rows_written} audit rows written"
                     + (f", {purged} older than {days} days purged" if purged else ""))
    except CouldNotRun as exc:
        report.error = str(exc)
    report.seconds = time.monotonic() - started
    return report


def verdict_line(outcome: CheckOutcome) -> str:
    return f"{outcome.check:<13} {outcome.status.value.upper():<7} {outcome.kind:<8} {outcome.summary}"


def final_line(report: RunReport) -> str:
    words = {VERIFIED: "VERIFIED", FAILED: "VERIFICATION FAILED", COULD_NOT_RUN: "COULD NOT RUN"}
    status = worst(o.status for o in report.outcomes) if report.outcomes else Status.ERROR
    why = f": {report.error}" if report.error else ""
    return (f"verdict: {words[report.exit_code]}{why} (exit {report.exit_code}; run {report.run_id}; "
            f"{len(report.outcomes)} checks, worst {status.value}, {report.seconds:.1f}s)")
