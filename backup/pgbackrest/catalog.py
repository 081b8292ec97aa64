"""What ``backup.info`` and each ``backup.manifest`` say, as plain values (parsing only, no I/O).

A manifest lists every file of the cluster with where its bytes are stored: its own
object ``<label>/pg_data/<name>[.gz]``, or a slice of a bundle ``<label>/bundle/<bni>``
at offset ``bno`` (``repo-bundle=y``), in the backup named by ``reference`` when a
diff or incremental backup reuses a file of an earlier one. ``rck`` is the SHA-1 of
the stored bytes, ``checksum`` and ``size`` describe the original file. Zero-length
files are not stored at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from .ini import IniError, IniFile

EMPTY_SHA1 = hashlib.sha1(b"").hexdigest()  # noqa: S324 - pgBackRest's format
COMPRESS_SUFFIX = {"gz": ".gz", "none": "", "lz4": ".lz4", "zst": ".zst", "bz2": ".bz2"}
SUPPORTED_COMPRESSION = ("gz", "none")


@dataclass(frozen=True)
class BackupEntry:
    """One ``[backup:current]`` line of ``backup.info``."""

    label: str
    type: str                  # full, diff, incr
    prior: str | None
    archive_start: str | None
    archive_stop: str | None
    lsn_start: str | None
    lsn_stop: str | None
    started: datetime
    stopped: datetime
    error: bool
    size: int
    repo_size: int


@dataclass(frozen=True)
class StoredFile:
    """One manifest file: where its bytes are (key below the stanza's backup folder) and what they are."""

    name: str                  # pg_data/base/1/1259
    object_key: str            # <label>/pg_data/base/1/1259.gz or <label>/bundle/3
    offset: int | None         # bno: the slice's start inside a bundle
    repo_size: int
    size: int
    rck: str | None            # SHA-1 of the stored bytes; None for zero-length files
    checksum: str
    reference: str             # the backup that stored it

    @property
    def slice_key(self) -> str:
        """The unit both regions must agree on: the object, and the offset inside a bundle."""
        return self.object_key if self.offset is None else f"{self.object_key}@{self.offset}"


@dataclass(frozen=True)
class Manifest:
    label: str
    type: str
    references: tuple[str, ...]
    compress_type: str
    files: tuple[StoredFile, ...]
    empty_files: int           # zero-length files: in the manifest, nothing stored
    system_id: int | None
    version: str | None


def _time(value: object) -> datetime:
    return datetime.fromtimestamp(value if isinstance(value, int) else 0, UTC)


def backups(info: IniFile) -> list[BackupEntry]:
    """Every current backup of ``backup.info``, newest first."""
    out = []
    for label, data in info.items("backup:current"):
        out.append(BackupEntry(
            label=label, type=str(data.get("backup-type", "?")), prior=data.get("backup-prior"),
            archive_start=data.get("backup-archive-start"), archive_stop=data.get("backup-archive-stop"),
            lsn_start=data.get("backup-lsn-start"), lsn_stop=data.get("backup-lsn-stop"),
            started=_time(data.get("backup-timestamp-start")),
            stopped=_time(data.get("backup-timestamp-stop")),
            error=bool(data.get("backup-error", False)), size=int(data.get("backup-info-size", 0)),
            repo_size=int(data.get("backup-info-repo-size", 0))))
    return sorted(out, key=lambda b: (b.stopped, b.label), reverse=True)


def manifest(ini: IniFile) -> Manifest:
    """The stored files of one backup; raises IniError when a file entry is unusable."""
    label = str(ini.value("backup", "backup-label", ""))
    compress = str(ini.value("backup:option", "option-compress-type", "none")
                   if ini.value("backup:option", "option-compress", True) else "none")
    defaults = {k: v for k, v in ini.items("target:file:default")}
    files, empty = [], 0
    for name, data in ini.items("target:file"):
        data = {**defaults, **data}
        size = int(data.get("size", 0))
        if size == 0 and "rck" not in data:
            empty += 1
            continue
        reference = str(data.get("reference", label))
        bundle = data.get("bni")
        if bundle is not None:
            key, offset = f"{reference}/bundle/{int(bundle)}", int(data.get("bno", 0))
        else:
            key, offset = f"{reference}/{name}{COMPRESS_SUFFIX.get(compress, '.' + compress)}", None
        if "rck" not in data:
            raise IniError(f"{name}: no rck (stored checksum) in the manifest")
        files.append(StoredFile(name=name, object_key=key, offset=offset,
                                repo_size=int(data.get("repo-size", size)), size=size,
                                rck=str(data["rck"]), checksum=str(data.get("checksum", EMPTY_SHA1)),
                                reference=reference))
    references = str(ini.value("backup", "backup-reference", label) or label).split(",")
    system_id = ini.value("backup:db", "db-system-id")
    return Manifest(label=label, type=str(ini.value("backup", "backup-type", "?")),
                    references=tuple(r for r in references if r), compress_type=compress,
                    files=tuple(files), empty_files=empty,
                    system_id=int(system_id) if system_id is not None else None,
                    version=ini.value("backup:db", "db-version"))
