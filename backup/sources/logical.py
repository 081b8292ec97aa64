"""Logical backups in S3: ``<prefix><name>.dump`` (``pg_dump -Fc``) beside ``<name>.dump.sha256``.

The sidecar is in ``sha256sum`` format and is written after the archive, so it is also
the producer's commit marker: an archive without one was never finished, or was
written by a tool that recorded nothing (then the object's ``sha256`` metadata is
read). The backup's time is the dump's start, from the ``YYYYMMDDTHHMMSSZ`` stamp in
the name, and the object's LastModified otherwise. ETags are never used: a multipart
upload's ETag is not an MD5 of anything the verifier could recompute.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import pgrestore
from ..errors import CouldNotRun, RestoreFailed
from ..hashing import Throttle, hash_chunks, human_bytes
from ..model import Backup, BackupObject, Progress, RecordedChecksum
from ..s3 import ObjectBody, make_client, s3_errors
from ..settings import RegionSettings, S3Settings
from .base import RestoreTarget, RestoreTimings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DUMP_SUFFIX = ".dump"
SIDECAR_SUFFIX = ".sha256"
METADATA_KEY = "sha256"
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")
_SIDECAR = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S.*)?$")


def backup_time(relative_key: str, last_modified: datetime) -> datetime:
    """The dump's start as recorded in its name, else when the object was written."""
    match = _STAMP.search(relative_key.rsplit("/", 1)[-1])
    if match:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return last_modified


def parse_sidecar(text: str) -> str | None:
    """The hex digest of a ``sha256sum`` line, lower-cased; None when malformed."""
    lines = [line for line in text.splitlines() if line.strip()]
    match = _SIDECAR.match(lines[0].strip()) if len(lines) == 1 else None
    return match.group(1).lower() if match else None


def sidecar_text(hexdigest: str, key: str) -> str:
    return f"{hexdigest}  {key.rsplit('/', 1)[-1]}\n"


class LogicalS3Source:
    kind = "logical"

    def __init__(self, settings: RegionSettings, s3: S3Settings, *, chunk_bytes: int = 1 << 20,
                 bindir: str | None = None, progress_interval: float = 5.0,
                 client: S3Client | None = None):
        self.settings = settings
        self.region = settings.region
        self.chunk_bytes = chunk_bytes
        self.bindir = bindir
        self.progress_interval = progress_interval
        self.client = client or make_client(settings, s3)
        self._sidecars: set[str] = set()
        self._recorded: dict[str, RecordedChecksum | None] = {}

    def _where(self, key: str = "") -> str:
        return f"s3://{self.settings.bucket}/{key or self.settings.prefix}"

    def list_backups(self, progress: Progress) -> list[Backup]:
        dumps: list[dict[str, Any]] = []
        listed = 0
        paginator = self.client.get_paginator("list_objects_v2")
        with s3_errors(f"listing {self._where()} in {self.region}"):
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=self.settings.prefix):
                for entry in page.get("Contents", []):
                    key = entry["Key"]
                    if key.endswith(DUMP_SUFFIX):
                        dumps.append(dict(entry))
                    elif key.endswith(DUMP_SUFFIX + SIDECAR_SUFFIX):
                        self._sidecars.add(key)
                listed += page.get("KeyCount", 0)
                progress(f"inventory {self.region}: {listed:,} objects listed")
        backups = [self._backup(entry) for entry in dumps]
        return sorted(backups, key=lambda b: (b.taken_at, b.backup_id), reverse=True)

    def _backup(self, entry: dict[str, Any]) -> Backup:
        key: str = entry["Key"]
        relative = key[len(self.settings.prefix):]
        source: str | None = "sidecar" if key + SIDECAR_SUFFIX in self._sidecars else None
        if source is None and self._metadata_checksum(key) is not None:
            source = "metadata"
        obj = BackupObject(key=key, relative_key=relative, size=int(entry["Size"]),
                           last_modified=entry["LastModified"], checksum_source=source)
        return Backup(backup_id=relative.removesuffix(DUMP_SUFFIX), kind=self.kind,
                      region=self.region, taken_at=backup_time(relative, entry["LastModified"]),
                      objects=(obj,))

    def _metadata_checksum(self, key: str) -> RecordedChecksum | None:
        if key not in self._recorded:
            with s3_errors(f"reading the metadata of {self._where(key)}"):
                head = self.client.head_object(Bucket=self.settings.bucket, Key=key)
            value = head.get("Metadata", {}).get(METADATA_KEY, "").lower()
            self._recorded[key] = (RecordedChecksum("sha256", value, "metadata")
                                   if re.fullmatch(r"[0-9a-f]{64}", value) else None)
        return self._recorded[key]

    def recorded_checksum(self, obj: BackupObject) -> RecordedChecksum | None:
        if obj.checksum_source == "metadata":
            return self._metadata_checksum(obj.key)
        if obj.checksum_source != "sidecar":
            return None
        sidecar = obj.key + SIDECAR_SUFFIX
        if sidecar not in self._recorded:
            with s3_errors(f"reading {self._where(sidecar)}"):
                body = self.client.get_object(Bucket=self.settings.bucket, Key=sidecar)["Body"]
                # A sidecar is one line; reading more than a few KiB of it would be a bug.
                text = body.read(4096).decode("utf-8", "replace")
            digest = parse_sidecar(text)
            self._recorded[sidecar] = RecordedChecksum("sha256", digest, "sidecar") if digest else None
        return self._recorded[sidecar]

    @contextmanager
    def open_object(self, obj: BackupObject) -> Iterator[ObjectBody]:
        with s3_errors(f"reading {self._where(obj.key)}"):
            response = self.client.get_object(Bucket=self.settings.bucket, Key=obj.key)
            body = response["Body"]
            try:
                yield ObjectBody(dict(response.get("Metadata", {})), body, self.chunk_bytes)
            finally:
                body.close()

    def restore(self, backup: Backup, target: RestoreTarget, progress: Progress) -> RestoreTimings:
        obj = backup.objects[0]
        work = Path(tempfile.mkdtemp(prefix="dbhealth-drill-", dir=target.work_dir))
        try:
            free = shutil.disk_usage(work).free
            if free < obj.size * 1.05:
                raise CouldNotRun(f"drill.work_dir has {human_bytes(free)} free; the archive needs "
                                  f"{human_bytes(obj.size)}")
            archive = work / "archive.dump"
            timings = RestoreTimings()
            recorded = self.recorded_checksum(obj)
            with archive.open("wb") as out, self.open_object(obj) as stream:
                digest = hash_chunks(stream.chunks(), recorded.algorithm if recorded else "sha256",
                                     total=obj.size, label=f"restore: downloading {backup.backup_id}",
                                     progress=Throttle(progress, self.progress_interval),
                                     sink=out.write)
            timings.phases["download"] = round(digest.seconds, 3)
            if recorded is not None and digest.hexdigest != recorded.hexdigest:
                raise RestoreFailed("the downloaded archive does not match its recorded checksum")
            timings.phases.update(pgrestore.restore(
                archive, target.dsn, jobs=target.jobs, bindir=self.bindir,
                timeout=target.timeout_seconds, progress=Throttle(progress, self.progress_interval)))
            return timings
        finally:
            shutil.rmtree(work, ignore_errors=True)
