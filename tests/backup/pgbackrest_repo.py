"""A production cluster archiving WAL with pgBackRest into S3 (moto behind TLS), with real backups.

Tiny on purpose: ``initdb --wal-segsize=1`` (1 MiB segments, not the default 16: the
verifier must read the size from the backups) and ``repo1-bundle=y`` (a cluster's
~1 000 small files in a handful of objects: every S3 request through moto costs
milliseconds). Copies of the repository into new buckets (server-side, a few dozen
keys) give each test one to damage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from .moto_s3 import ACCESS_KEY, SECRET_KEY, MotoServer
from .tls_s3 import TlsTerminator

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STANZA = "wedsync"
REPO_PATH = "pgbackrest"
REGION = "eu-west-2"


def pgbackrest_conf(tls: TlsTerminator, bucket: str, pg_path: Path, port: int, socket: Path,
                    work: Path) -> str:
    return "\n".join([
        "[global]", "repo1-type=s3", f"repo1-path=/{REPO_PATH}", f"repo1-s3-bucket={bucket}",
        "repo1-s3-endpoint=localhost", f"repo1-storage-port={tls.port}", f"repo1-s3-region={REGION}",
        "repo1-s3-uri-style=path", f"repo1-storage-ca-file={tls.cert}", "repo1-retention-full=2",
        "repo1-bundle=y", "start-fast=y", "compress-type=gz", "archive-timeout=30",
        f"log-path={work}", f"lock-path={work}", f"spool-path={work}", "log-level-console=warn",
        "log-level-file=off",
        f"[{STANZA}]", f"pg1-path={pg_path}", f"pg1-port={port}", f"pg1-socket-path={socket}", ""])


def credentials() -> dict[str, str]:
    return {"PGBACKREST_REPO1_S3_KEY": ACCESS_KEY, "PGBACKREST_REPO1_S3_KEY_SECRET": SECRET_KEY}


@dataclass
class Repo:
    """The running production cluster and its pgBackRest stanza in ``bucket``."""

    moto: MotoServer
    tls: TlsTerminator
    server: PostgresServer
    bucket: str
    conf: Path
    labels: list[str] = field(default_factory=list)
    marks_at: dict[str, int] = field(default_factory=dict)    # "target" -> rows committed before
    target_time: datetime | None = None

    def pgbackrest(self, *args: str, conf: Path | None = None, check: bool = True
                   ) -> subprocess.CompletedProcess[str]:
        argv = ["pgbackrest", f"--config={conf or self.conf}", f"--stanza={STANZA}", *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=check,
                              env={**os.environ, **credentials()})

    def backup(self, kind: str) -> str:
        self.pgbackrest(f"--type={kind}", "backup")
        found = sorted({k.split("/")[3] for k in self.keys() if k.endswith("/backup.manifest")})
        label = next(name for name in reversed(found) if name not in self.labels)
        self.labels.append(label)
        return label

    def backup_entries(self, bucket: str) -> list[Any]:
        from backup.pgbackrest import catalog
        from backup.pgbackrest.ini import parse

        body = self.client().get_object(Bucket=bucket, Key=f"{REPO_PATH}/backup/{STANZA}/backup.info")["Body"]
        return catalog.backups(parse(body.read().decode()))

    def client(self) -> S3Client:
        return self.moto.client(REGION)

    def keys(self, bucket: str | None = None) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [o["Key"] for page in paginator.paginate(Bucket=bucket or self.bucket)
                for o in page.get("Contents", [])]

    def copy(self, skip: tuple[str, ...] = ()) -> str:
        """A new bucket with the repository's objects (server-side copies) but keys containing ``skip``."""
        bucket = self.moto.new_bucket(REGION, stem="pgbr-copy")
        for key in self.keys():
            if not any(s in key for s in skip):
                source = {"Bucket": self.bucket, "Key": key}
                self.client().copy_object(Bucket=bucket, Key=key, CopySource=source)  # type: ignore[arg-type]
        return bucket

    def settings_region(self, bucket: str, region: str = REGION) -> dict[str, Any]:
        return {"region": region, "bucket": bucket, "prefix": REPO_PATH, "endpoint_url": self.tls.url,
                "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "addressing_style": "path",
                "ca_bundle": str(self.tls.cert)}


def start_repo(moto: MotoServer, tls: TlsTerminator) -> Repo:
    bucket = moto.new_bucket(REGION, stem="pgbr")
    server = PostgresServer(initdb=False, extra_conf={"wal_level": "replica", "archive_mode": "on",
                                                      "archive_timeout": "60"})
    server._prepare_root()
    server._run([str(server.bindir / "initdb"), "-D", str(server.datadir), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "-k", "--wal-segsize=1"])
    work = server.root / "pgbackrest"
    work.mkdir()
    conf = server.root / "pgbackrest.conf"
    conf.write_text(pgbackrest_conf(tls, bucket, server.datadir, server.port, server.root, work))
    env = " ".join(f"{k}={v}" for k, v in credentials().items())
    server.conf["archive_command"] = f"'{env} pgbackrest --config={conf} --stanza={STANZA} archive-push %p'"
    server.write_conf()
    if os.geteuid() == 0:
        for path in (work, conf):
            shutil.chown(path, "postgres", "postgres")
    server.start()
    repo = Repo(moto=moto, tls=tls, server=server, bucket=bucket, conf=conf)
    repo.pgbackrest("stanza-create")
    return repo


def insert_marks(repo: Repo, rows: int) -> int:
    """Commit ``rows`` into public.marks; returns the total."""
    with psycopg.connect(repo.server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.marks (id serial PRIMARY KEY, "
                     "created_at timestamptz NOT NULL DEFAULT clock_timestamp())")
        conn.execute("INSERT INTO public.marks SELECT FROM generate_series(1, %s)", (rows,))
        row = conn.execute("SELECT count(*) FROM public.marks").fetchone()
    assert row is not None
    return int(row[0])


def switch_and_archive(repo: Repo, timeout: float = 60) -> None:
    """Close the current segment and wait until pgBackRest has pushed it."""
    with psycopg.connect(repo.server.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        wait_until(lambda: (conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
                            or ("",))[0] >= row[0], timeout=timeout, what=f"segment {row[0]} archived")
