"""What a backup source is: the verifier's one seam between checks and storage formats.

A source lists the backups of one region, streams their objects, says what checksum
was recorded for each object, and knows how to turn one backup into a running,
queryable copy on the scratch server. The logical source (``pg_dump -Fc`` archives
with a SHA-256 sidecar, :mod:`backup.sources.logical`) is the first; a pgBackRest
source (manifest SHA-1s, ``pgbackrest restore``) plugs in behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from ..model import Backup, BackupObject, Progress, RecordedChecksum


@dataclass(frozen=True)
class RestoreTarget:
    """An empty database made for this drill by the drill itself (never production)."""

    dsn: str
    jobs: int
    work_dir: str | None
    timeout_seconds: float


@dataclass
class RestoreTimings:
    """Seconds per phase; the drill adds its own checks phase and the total is the RTO."""

    phases: dict[str, float] = field(default_factory=dict)


class ObjectStream(Protocol):
    """An open object: its chunks, and the metadata the GET answered with."""

    metadata: dict[str, str]

    def chunks(self) -> Iterator[bytes]: ...


class BackupSource(Protocol):
    kind: str     # "logical", "physical"
    region: str   # the region name (metrics label)

    def list_backups(self, progress: Progress) -> list[Backup]:
        """Every backup under the prefix, newest first. Raises SourceUnavailable."""
        ...

    def recorded_checksum(self, obj: BackupObject) -> RecordedChecksum | None:
        """The checksum recorded for ``obj`` without reading it, or None when there is none."""
        ...

    def open_object(self, obj: BackupObject) -> AbstractContextManager[ObjectStream]:
        """Stream ``obj`` in bounded chunks. Raises SourceUnavailable."""
        ...

    def restore(self, backup: Backup, target: RestoreTarget, progress: Progress) -> RestoreTimings:
        """Materialize ``backup`` into ``target``; raises RestoreFailed with sanitized text."""
        ...
