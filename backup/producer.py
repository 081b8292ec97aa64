"""A logical backup producer: ``pg_dump -Fc`` streamed to S3 with its SHA-256 sidecar.

Used by ``dbhealth-demo backup`` and the tests, and a reasonable nightly job in its own
right. The dump is hashed in the same pass as it is uploaded (no local copy, bounded
memory), then copied to the replica region by streaming it back from the primary
(what bucket replication does in AWS; it also works between two different stores)
and hashed again on the way. The sidecar is written last in each region: it is the
commit marker, so an interrupted upload is an archive without a checksum, which the
verifier reports. A failed pg_dump leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from boto3.s3.transfer import TransferConfig

from .errors import BackupVerifyError
from .model import Progress
from .pgtools import libpq_env, tool
from .sources.logical import DUMP_SUFFIX, SIDECAR_SUFFIX, sidecar_text

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# 16 MiB parts: few parts for a demo-sized dump, bounded memory for a big one.
TRANSFER = TransferConfig(multipart_chunksize=16 << 20, multipart_threshold=16 << 20, max_concurrency=2)


@dataclass(frozen=True)
class Destination:
    client: S3Client
    bucket: str
    prefix: str   # "" or ending in "/"
    region: str


@dataclass(frozen=True)
class Produced:
    key: str
    sha256: str
    size: int
    taken_at: datetime


class _HashingReader:
    """A read-only stream that hashes (and counts) what passes through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, amount: int = -1) -> bytes:
        chunk = self.raw.read(amount)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def backup_key(prefix: str, dbname: str, taken_at: datetime) -> str:
    return f"{prefix}{dbname}-{taken_at.astimezone(UTC):%Y%m%dT%H%M%SZ}{DUMP_SUFFIX}"


def dump_to_s3(dsn: str, dbname: str, primary: Destination, replicas: list[Destination],
               progress: Progress, taken_at: datetime | None = None, bindir: str | None = None) -> Produced:
    taken_at = taken_at or datetime.now(UTC)
    key = backup_key(primary.prefix, dbname, taken_at)
    progress(f"backup: pg_dump -Fc {dbname} → s3://{primary.bucket}/{key} ({primary.region})")
    proc = subprocess.Popen([tool("pg_dump", bindir), "--format=custom", "--no-password"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **libpq_env(dsn)})
    assert proc.stdout is not None and proc.stderr is not None
    reader = _HashingReader(proc.stdout)
    try:
        primary.client.upload_fileobj(reader, primary.bucket, key, Config=TRANSFER)
    finally:
        proc.stdout.close()
        error = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait()
    if code != 0:
        primary.client.delete_object(Bucket=primary.bucket, Key=key)
        raise BackupVerifyError(f"pg_dump exited {code}: {error.strip()[-300:]}")
    produced = Produced(key, reader.digest.hexdigest(), reader.size, taken_at)
    _put_sidecar(primary, key, produced.sha256)
    progress(f"backup: {reader.size:,} bytes, sha256 {produced.sha256[:16]}… in {primary.region}")
    for replica in replicas:
        copy_to(primary, replica, produced)
        progress(f"backup: copied to s3://{replica.bucket}/{replica.prefix} ({replica.region})")
    return produced


def copy_to(source: Destination, target: Destination, produced: Produced) -> None:
    """Stream the archive from one region to another, checking it on the way."""
    relative = produced.key[len(source.prefix):]
    target_key = target.prefix + relative
    body = source.client.get_object(Bucket=source.bucket, Key=produced.key)["Body"]
    reader = _HashingReader(body)
    try:
        target.client.upload_fileobj(reader, target.bucket, target_key, Config=TRANSFER)
    finally:
        body.close()
    if reader.digest.hexdigest() != produced.sha256:
        target.client.delete_object(Bucket=target.bucket, Key=target_key)
        raise BackupVerifyError(f"copy to {target.region} does not match the dump's checksum")
    _put_sidecar(target, target_key, produced.sha256)


def _put_sidecar(dest: Destination, key: str, sha256: str) -> None:
    dest.client.put_object(Bucket=dest.bucket, Key=key + SIDECAR_SUFFIX,
                           Body=sidecar_text(sha256, key).encode(), ContentType="text/plain")
