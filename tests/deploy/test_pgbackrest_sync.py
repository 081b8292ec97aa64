"""demo/s3sync.py against moto: the stand-in for S3 replication copies only what changed.

A copy of a multipart object gets a single-part ETag (moto as AWS), so comparing ETags
alone would copy it again on every pass; the ``source-etag`` metadata settles it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from demo import s3sync

from ..backup.moto_s3 import MotoServer

PART = 5 << 20  # S3's smallest part


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def test_sync_copies_new_and_rewritten_keys_once_multipart_included(moto: MotoServer) -> None:
    primary, replica = moto.client("eu-west-2"), moto.client("eu-west-1")
    source, target = moto.new_bucket("eu-west-2", "pgbr-sync"), moto.new_bucket("eu-west-1", "pgbr-sync")
    upload = primary.create_multipart_upload(Bucket=source, Key="pgbackrest/archive/wal-1.gz")
    parts = [{"PartNumber": n, "ETag": primary.upload_part(
        Bucket=source, Key="pgbackrest/archive/wal-1.gz", PartNumber=n, UploadId=upload["UploadId"],
        Body=os.urandom(PART if n == 1 else 100))["ETag"]} for n in (1, 2)]
    primary.complete_multipart_upload(Bucket=source, Key="pgbackrest/archive/wal-1.gz",
                                      UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})  # type: ignore[typeddict-item]
    primary.put_object(Bucket=source, Key="pgbackrest/backup/backup.info", Body=b"one")

    assert sorted(s3sync.sync(primary, replica, source, target)) == [
        "pgbackrest/archive/wal-1.gz", "pgbackrest/backup/backup.info"]
    theirs = replica.head_object(Bucket=target, Key="pgbackrest/archive/wal-1.gz")
    ours = primary.head_object(Bucket=source, Key="pgbackrest/archive/wal-1.gz")
    assert theirs["ETag"] != ours["ETag"] and ours["ETag"].endswith('-2"')  # the case being tested
    assert theirs["Metadata"][s3sync.SOURCE_ETAG] == ours["ETag"]
    assert s3sync.sync(primary, replica, source, target) == []

    primary.put_object(Bucket=source, Key="pgbackrest/backup/backup.info", Body=b"two")  # rewritten
    assert s3sync.sync(primary, replica, source, target) == ["pgbackrest/backup/backup.info"]
    body = replica.get_object(Bucket=target, Key="pgbackrest/backup/backup.info")["Body"].read()
    assert body == b"two"
    replica.put_object(Bucket=target, Key="pgbackrest/archive/wal-1.gz", Body=b"damaged")
    assert s3sync.sync(primary, replica, source, target) == ["pgbackrest/archive/wal-1.gz"]
