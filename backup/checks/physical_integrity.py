"""Integrity of pgBackRest backups: every stored object streamed once, every manifest file checked.

Objects are hashed in parallel (``pgbackrest.parallel`` at a time, each holding one
chunk, so memory is bounded by parallel x chunk size). A file shared by several
backups (diff/incr references) is read once. One audit row per backup and region
with the counts; one more per file that failed, naming it, with the recorded and the
observed SHA-1 (``checksum_algorithm = sha1``: what pgBackRest records).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..errors import SourceUnavailable
from ..hashing import Throttle, human_bytes
from ..model import Backup, CheckOutcome, Finding, Status
from ..pgbackrest.catalog import StoredFile
from ..pgbackrest.filecheck import FileVerdict, check_object
from ..sources.pgbackrest import MissingObject, PgBackRestSource
from .context import RunContext

CHECK = "integrity"


class _Progress:
    """Files and bytes done, across threads, reported through the run's throttled progress."""

    def __init__(self, ctx: RunContext, region: str, files: int, size: int):
        self.lock = threading.Lock()
        self.report = Throttle(ctx.progress, ctx.settings.progress_interval_seconds)
        self.region, self.files, self.size = region, files, size
        self.done_files = self.done_bytes = 0
        self.started = time.monotonic()

    def add(self, files: int, size: int) -> None:
        with self.lock:
            self.done_files += files
            self.done_bytes += size
            final = self.done_files >= self.files
            rate = self.done_bytes / 1e6 / max(time.monotonic() - self.started, 1e-9)
            self.report(f"integrity {self.region}: {self.done_files:,}/{self.files:,} files, "
                        f"{human_bytes(self.done_bytes)} of {human_bytes(self.size)}, {rate:.1f} MB/s",
                        final=final)


def _check_key(source: PgBackRestSource, key: str, files: list[StoredFile], compress: str,
               progress: _Progress) -> list[FileVerdict] | str:
    try:
        with source.open_key(key) as stream:
            verdicts = check_object(stream.chunks(), files, compress)
    except MissingObject:
        verdicts = [FileVerdict(f, False, "stored object missing", None) for f in files]
    except SourceUnavailable as exc:
        return str(exc)
    progress.add(len(files), sum(f.repo_size for f in files))
    return verdicts


def verify_region(ctx: RunContext, source: PgBackRestSource, backups: list[Backup]) -> list[Finding]:
    """Findings for ``backups`` of one region: one per backup, plus one per bad file."""
    by_key: dict[str, list[StoredFile]] = {}
    owners: dict[str, str] = {}
    for backup in backups:
        manifest = source.manifests.get(backup.backup_id)
        for key, files in source.stored_objects(backup).items():
            if key not in by_key:
                by_key[key] = files
                owners[key] = manifest.compress_type if manifest else "gz"
            else:
                known = {f.slice_key for f in by_key[key]}
                by_key[key] += [f for f in files if f.slice_key not in known]
    total_files = sum(len(v) for v in by_key.values())
    total_bytes = sum(f.repo_size for v in by_key.values() for f in v)
    progress = _Progress(ctx, source.region, total_files, total_bytes)
    results: dict[str, list[FileVerdict] | str] = {}
    with ThreadPoolExecutor(max_workers=source.settings.parallel, thread_name_prefix="integrity") as pool:
        futures = {key: pool.submit(_check_key, source, key, files, owners[key], progress)
                   for key, files in by_key.items() if owners[key] in ("gz", "none")}
        for key, future in futures.items():
            results[key] = future.result()
    verdict_of: dict[str, FileVerdict] = {}
    errors: dict[str, str] = {}
    for key, result in results.items():
        if isinstance(result, str):
            errors[key] = result
        else:
            verdict_of.update({v.file.slice_key: v for v in result})
    ctx.observed.update({(source.region, source.backup_dir + k): v.observed_rck
                         for k, v in verdict_of.items() if v.observed_rck})
    return [f for backup in backups for f in _backup_findings(source, backup, verdict_of, errors)]


def _backup_findings(source: PgBackRestSource, backup: Backup, verdict_of: dict[str, FileVerdict],
                     errors: dict[str, str]) -> list[Finding]:
    started = time.monotonic()
    files = [source.files[o.relative_key] for o in backup.objects]
    seen = [verdict_of[f.slice_key] for f in files if f.slice_key in verdict_of]
    bad = [v for v in seen if not v.ok]
    unread = [f for f in files if f.slice_key not in verdict_of]
    where = source.root + source.backup_dir
    out = [Finding.about(CHECK, Status.FAILED, backup, object_key=where + v.file.object_key,
                         file_size=v.file.repo_size, checksum_valid=False, algorithm="sha1",
                         expected=v.file.rck, observed=v.observed_rck, detail=f"{v.file.name}: {v.problem}",
                         data={"file": v.file.name, "offset": v.file.offset})
           for v in bad]
    if backup.problems:
        status, detail = Status.FAILED, "; ".join(backup.problems)
    elif bad:
        status, detail = Status.FAILED, (f"{len(bad)} of {len(files)} files bad: "
                                         + ", ".join(v.file.name for v in bad[:5]))
    elif unread:
        status = Status.ERROR
        detail = f"{len(unread)} files not read: " + (next(iter(errors.values()), "") or "unsupported")
    else:
        status, detail = Status.PASSED, None
    out.insert(0, Finding.about(
        CHECK, status, backup, checksum_valid=status == Status.PASSED, algorithm="sha1", detail=detail,
        duration_seconds=round(time.monotonic() - started, 3),
        data={"files": len(files), "bad_files": len(bad), "unread_files": len(unread)}))
    return out


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    findings: list[Finding] = []
    parts = []
    for role in ctx.settings.integrity.regions:
        if role not in ctx.sources and role == "replica":
            continue
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            findings.append(missing)
            parts.append(f"{missing.region}: {missing.detail}")
            continue
        source = ctx.sources[role]
        assert isinstance(source, PgBackRestSource)
        backups = ctx.inventory.backups.get(role, [])
        if ctx.settings.integrity.backups == "newest":
            backups = backups[:1]
        region_findings = verify_region(ctx, source, backups)
        findings += region_findings
        heads = [f for f in region_findings if f.object_key is None]
        files = sum(int(f.data.get("files", 0)) for f in heads)
        bad = [f for f in region_findings if f.object_key is not None]
        parts.append(f"{source.region}: {len(heads)} backups, {files:,} files checked (sha1), "
                     f"{len(bad)} bad" + "".join(f"; {f.backup_id}: {f.detail}" for f in bad[:3])
                     + "".join(f"; {f.backup_id}: {f.detail}" for f in heads
                               if f.status != Status.PASSED and not bad))
    ctx.record(findings)
    return CheckOutcome(CHECK, findings, "; ".join(parts) or "nothing to verify", time.monotonic() - started)
