"""Physical backups: one pgBackRest repository in S3, read with boto3 (no pgBackRest binary).

``backup/<stanza>/backup.info`` lists the backups; each ``<label>/backup.manifest``
lists the files and the SHA-1s pgBackRest recorded. Both are checked against their
own ``backrest-checksum`` and fall back to their ``.copy`` as pgBackRest does. Each
manifest file is one :class:`BackupObject` (a diff or incremental backup's objects
include what it reuses from the backups it references), keyed by where its bytes are:
``backup/<stanza>/<label>/bundle/<n>@<offset>`` or ``…/pg_data/<name>.gz``. The WAL
archive is listed once per run (:meth:`archive`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..errors import CouldNotRun, SourceUnavailable
from ..model import Backup, BackupObject, Progress, RecordedChecksum
from ..pgbackrest import catalog, wal
from ..pgbackrest.filecheck import unsupported
from ..pgbackrest.ini import IniError, IniFile, parse
from ..s3 import ObjectBody, make_client, s3_errors
from ..settings import PgBackRestSettings, RegionSettings
from .base import RestoreTarget, RestoreTimings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KIND = "physical"


class MissingObject(SourceUnavailable):
    """The key is not in the bucket (a verdict about the backup, not an outage)."""


@dataclass
class Archive:
    """The WAL archive of one region, as listed this run."""

    segments: list[wal.Segment] = field(default_factory=list)
    histories: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    segment_size: int = wal.DEFAULT_SIZE
    keys: int = 0


class PgBackRestSource:
    kind = KIND

    def __init__(self, settings: PgBackRestSettings, region: RegionSettings, *,
                 chunk_bytes: int = 1 << 20, client: S3Client | None = None):
        self.settings = settings
        self.region_settings = region
        self.region = region.region
        self.chunk_bytes = chunk_bytes
        self.client = client or make_client(region, settings.repo)
        self.root = f"{region.prefix}"
        self.backup_dir = f"backup/{settings.stanza}/"
        self.entries: dict[str, catalog.BackupEntry] = {}
        self.manifests: dict[str, catalog.Manifest] = {}
        self.files: dict[str, catalog.StoredFile] = {}   # relative key -> file
        self._archive: Archive | None = None

    def where(self, key: str = "") -> str:
        return f"s3://{self.region_settings.bucket}/{self.root}{key}"

    def _read(self, relative: str, limit: int = 256 << 20) -> bytes:
        key = self.root + relative
        try:
            with s3_errors(f"reading {self.where(relative)}"):
                body = self.client.get_object(Bucket=self.region_settings.bucket, Key=key)["Body"]
                data: bytes = body.read(limit)
                return data
        except SourceUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
                    "NoSuchKey", "404"):
                raise MissingObject(f"{self.where(relative)} does not exist") from None
            raise

    def info_file(self, relative: str) -> IniFile:
        """An info file or manifest, from its ``.copy`` when the main one is missing or damaged."""
        problems = []
        for candidate in (relative, relative + ".copy"):
            try:
                return parse(self._read(candidate).decode("utf-8"))
            except (MissingObject, IniError, UnicodeDecodeError) as exc:
                problems.append(f"{candidate.rsplit('/', 1)[-1]}: {exc}")
        raise IniError("; ".join(problems))

    def list_backups(self, progress: Progress) -> list[Backup]:
        try:
            info = self.info_file(self.backup_dir + "backup.info")
        except IniError as exc:
            raise SourceUnavailable(f"{self.where(self.backup_dir)}backup.info unreadable: {exc}") from None
        out = []
        for entry in catalog.backups(info):
            self.entries[entry.label] = entry
            out.append(self._backup(entry))
            progress(f"inventory {self.region}: manifest of {entry.label} read")
        return out

    def _backup(self, entry: catalog.BackupEntry) -> Backup:
        problems: list[str] = []
        objects: list[BackupObject] = []
        if entry.error:
            problems.append("backup.info marks the backup as having page checksum errors")
        try:
            manifest = catalog.manifest(self.info_file(f"{self.backup_dir}{entry.label}/backup.manifest"))
        except IniError as exc:
            problems.append(f"manifest unreadable: {exc}")
        else:
            self.manifests[entry.label] = manifest
            reason = unsupported(manifest.compress_type)
            if reason:
                problems.append(reason)
            for f in manifest.files:
                relative = self.backup_dir + f.slice_key
                self.files[relative] = f
                objects.append(BackupObject(key=self.root + self.backup_dir + f.object_key,
                                            relative_key=relative, size=f.repo_size,
                                            last_modified=entry.stopped, checksum_source="manifest"))
        return Backup(backup_id=entry.label, kind=KIND, region=self.region, taken_at=entry.stopped,
                      objects=tuple(objects), problems=tuple(problems))

    def recorded_checksum(self, obj: BackupObject) -> RecordedChecksum | None:
        f = self.files.get(obj.relative_key)
        return RecordedChecksum("sha1", f.rck, "manifest") if f is not None and f.rck else None

    def stored_objects(self, backup: Backup) -> dict[str, list[catalog.StoredFile]]:
        """Full object key -> every manifest file whose bytes are in it (one GET each)."""
        grouped: dict[str, list[catalog.StoredFile]] = defaultdict(list)
        for obj in backup.objects:
            grouped[obj.key].append(self.files[obj.relative_key])
        return dict(grouped)

    @contextmanager
    def open_object(self, obj: BackupObject) -> Iterator[ObjectBody]:
        with self.open_key(obj.key) as stream:
            yield stream

    @contextmanager
    def open_key(self, key: str) -> Iterator[ObjectBody]:
        try:
            with s3_errors(f"reading s3://{self.region_settings.bucket}/{key}"):
                response = self.client.get_object(Bucket=self.region_settings.bucket, Key=key)
        except SourceUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
                    "NoSuchKey", "404"):
                raise MissingObject(f"s3://{self.region_settings.bucket}/{key} does not exist") from None
            raise
        body = response["Body"]
        try:
            with s3_errors(f"reading s3://{self.region_settings.bucket}/{key}"):
                yield ObjectBody(dict(response.get("Metadata", {})), body, self.chunk_bytes)
        finally:
            body.close()

    def archive(self, progress: Progress) -> Archive:
        """Every WAL segment and history file under ``archive/<stanza>/`` (listed once per run)."""
        if self._archive is not None:
            return self._archive
        found = Archive()
        histories: list[str] = []
        prefix = f"{self.root}archive/{self.settings.stanza}/"
        raw: list[tuple[str, datetime]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with s3_errors(f"listing {self.where('archive/' + self.settings.stanza + '/')}"):
            for page in paginator.paginate(Bucket=self.region_settings.bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    found.keys += 1
                    key = entry["Key"]
                    if wal.HISTORY.search(key):
                        histories.append(key[len(self.root):])
                    elif wal.SEGMENT.search(key):
                        raw.append((key, entry["LastModified"]))
            progress(f"wal {self.region}: {found.keys:,} archive objects listed")
        found.segment_size = self.settings.wal_segment_size or wal.infer_segment_size(
            [(e.lsn_start, e.archive_start) for e in self.entries.values()
             if e.lsn_start and e.archive_start]) or wal.DEFAULT_SIZE
        for key, modified in raw:
            match = wal.SEGMENT.search(key)
            assert match is not None
            timeline, number = wal.parse_name(match.group(1), found.segment_size)
            found.segments.append(wal.Segment(timeline, number, match.group(2), modified))
        for relative in histories:
            match = wal.HISTORY.search(relative)
            assert match is not None
            text = self._read(relative, 1 << 20).decode("utf-8", "replace")
            found.histories[int(match.group(1), 16)] = wal.parse_history(text)
        self._archive = found
        return found

    def restore(self, backup: Backup, target: RestoreTarget, progress: Progress) -> RestoreTimings:
        raise CouldNotRun("physical backups are restored by the pgBackRest drill, not into a database")


def relative_wal_key(key: str) -> str:
    """``…/archive/<stanza>/15-1/<dir>/<segment>-<sha1>.gz`` -> ``15-1/<dir>/<segment>-<sha1>.gz``."""
    return re.sub(r"^.*?archive/[^/]+/", "", key)
