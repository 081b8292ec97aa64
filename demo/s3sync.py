"""The compose stack's stand-in for S3 cross-region replication of the pgBackRest repository.

On AWS the replica bucket (eu-west-1) is filled by S3 replication; moto has none, so
``dbhealth-demo pgbackrest-sync`` copies the primary bucket into it every interval
(server-side ``copy_object``), and ``dbhealth-demo pgbackrest-buckets`` creates both
buckets first. Only what changed is copied: a key the replica lacks, or whose ETag
differs from the primary's. A copy of a multipart object gets a single-part ETag (on
moto as on AWS), so each copy records the source's ETag in its metadata
(``source-etag``) and a differing ETag is settled by that before copying again;
``backup.info``/``archive.info``, rewritten by pgBackRest in place, are what really
changes. Deletions are not copied (S3 replication's default): the verifier reads the
replica's own ``backup.info``, so an expired backup left there is never looked at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from . import pgbackrest as physical

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Progress = Callable[[str], None]
SOURCE_ETAG = "source-etag"


def client(endpoint: str, region: str) -> S3Client:
    """Credentials from the default chain (compose: AWS_* from the s3_secret_key secret)."""
    made: S3Client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
    return made


def ensure_buckets(endpoint: str, progress: Progress = print) -> list[str]:
    """The primary and replica repository buckets, each in its region; returns those created."""
    created = []
    for role, region in physical.REGIONS.items():
        s3 = client(endpoint, region)
        name = physical.bucket(role)
        if name in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            progress(f"pgbackrest-buckets: {name} exists")
            continue
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
        created.append(name)
        progress(f"pgbackrest-buckets: created {name} in {region}")
    return created


def _listing(s3: S3Client, bucket: str) -> Iterator[tuple[str, str]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            yield entry["Key"], entry["ETag"]


def sync(primary: S3Client, replica: S3Client, source: str, target: str) -> list[str]:
    """Copy into ``target`` every key of ``source`` it lacks or holds another version of."""
    have = dict(_listing(replica, target))
    copied = []
    for key, etag in _listing(primary, source):
        theirs = have.get(key)
        if theirs == etag:
            continue
        if theirs is not None:
            meta = replica.head_object(Bucket=target, Key=key).get("Metadata", {})
            if meta.get(SOURCE_ETAG) == etag:
                continue  # a copy of this very version (a multipart source's ETag differs)
        replica.copy_object(Bucket=target, Key=key, CopySource={"Bucket": source, "Key": key},
                            MetadataDirective="REPLACE", Metadata={SOURCE_ETAG: etag})
        copied.append(key)
    return copied


def run(endpoint: str, interval: float, heartbeat: Path | None, once: bool,
        progress: Progress = print) -> int:
    """Sync every ``interval`` seconds; ``heartbeat`` is touched after each complete pass."""
    primary = client(endpoint, physical.REGIONS["primary"])
    replica = client(endpoint, physical.REGIONS["replica"])
    while True:
        started = time.monotonic()
        try:
            copied = sync(primary, replica, physical.bucket("primary"), physical.bucket("replica"))
        except Exception as exc:  # S3 away for a while: say so, keep the last heartbeat, retry
            progress(f"pgbackrest-sync: pass failed: {type(exc).__name__}: {exc}")
            if once:
                return 2
        else:
            progress(f"pgbackrest-sync: {len(copied)} object(s) copied to {physical.bucket('replica')}")
            if heartbeat is not None:
                heartbeat.touch()
            if once:
                return 0
        time.sleep(max(interval - (time.monotonic() - started), 0))
