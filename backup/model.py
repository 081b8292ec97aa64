"""Plain values passed between the source, the checks, the audit and the report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Progress = Callable[[str], None]


class Status(StrEnum):
    """One audit row's ``verification_status``."""

    PASSED = "passed"
    FAILED = "failed"   # the backup is not good: verification failed
    ERROR = "error"     # no verdict: the check could not run


def worst(statuses: Iterable[Status]) -> Status:
    """A failure outranks an error: a bad backup is the more urgent news."""
    seen = set(statuses)
    for status in (Status.FAILED, Status.ERROR):
        if status in seen:
            return status
    return Status.PASSED


@dataclass(frozen=True)
class RecordedChecksum:
    """A checksum recorded by whoever wrote the backup: never an ETag."""

    algorithm: str  # hashlib name: "sha256" here, "sha1" for pgBackRest manifests
    hexdigest: str
    source: str     # "sidecar", "metadata", "manifest"


@dataclass(frozen=True)
class BackupObject:
    key: str                  # full key in the bucket
    relative_key: str         # key below the prefix: what the regions must agree on
    size: int
    last_modified: datetime
    checksum_source: str | None  # where a recorded checksum can be found, None when nowhere


@dataclass(frozen=True)
class Backup:
    backup_id: str
    kind: str                 # "logical" (pg_dump -Fc), "physical" (pgBackRest)
    region: str
    taken_at: datetime        # the consistent point: the dump's start
    objects: tuple[BackupObject, ...]
    problems: tuple[str, ...] = ()   # found while reading its catalog (manifest damaged, …)
    # taken_at is an exact instant (a recovery target, the last replayed commit), not a
    # time known only to the second as in dump names and pgBackRest's catalog.
    taken_at_exact: bool = False

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)


@dataclass(frozen=True)
class Finding:
    """One row of ``backup_verification_audit``: one check's verdict on one subject."""

    check: str
    status: Status
    backup_id: str = "-"
    region: str | None = None
    backup_kind: str | None = None
    object_key: str | None = None
    backup_time: datetime | None = None
    file_size: int | None = None
    checksum_valid: bool | None = None
    algorithm: str | None = None
    expected: str | None = None
    observed: str | None = None
    duration_seconds: float | None = None
    detail: str | None = None          # sanitized: never a data value
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def about(cls, check: str, status: Status, backup: Backup, **extra: Any) -> Finding:
        fields: dict[str, Any] = {"backup_id": backup.backup_id, "region": backup.region,
                                  "backup_kind": backup.kind, "backup_time": backup.taken_at,
                                  "file_size": backup.size}
        return cls(check=check, status=status, **{**fields, **extra})


@dataclass
class CheckOutcome:
    """Everything one check found in one run, with the sentence printed as its verdict."""

    check: str
    findings: list[Finding]
    summary: str
    seconds: float = 0.0
    kind: str = "logical"     # the backup kind the check looked at

    @property
    def status(self) -> Status:
        if not self.findings:
            return Status.ERROR
        return worst(f.status for f in self.findings)


@dataclass
class Inventory:
    """What discovery found per region role ("primary", "replica"); ``errors`` where listing failed."""

    regions: dict[str, str] = field(default_factory=dict)  # role -> region name
    backups: dict[str, list[Backup]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def newest(self, role: str) -> Backup | None:
        found = self.backups.get(role) or []
        return found[0] if found else None
