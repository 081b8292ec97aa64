"""The demo's backups: a local S3 in two regions (moto's server), a scratch server, a nightly dump.

``dbhealth-demo up`` starts moto as one of its services (and socat, its TLS terminator
for pgBackRest: :mod:`demo.pgbackrest`), archives the demo cluster's WAL with
pgBackRest into the local S3, takes a full physical backup, starts a second PostgreSQL cluster
as the restore drill's scratch server (the verifier refuses to drill on production),
takes a backup and runs ``dbhealth-backup-verify`` once, so the exporter's
``dbhealth_backup_*`` metrics, the backup alerts and ``/health/full`` show real state.
``dbhealth-demo backup`` takes another backup at any time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import psycopg
import yaml
from botocore.config import Config
from psycopg import sql

from backup.producer import Destination, dump_to_s3

from . import pgbackrest as physical
from .cluster import LocalCluster

Progress = Callable[[str], None]
ROOT = Path(os.environ.get("DBHEALTH_DEMO_DIR", ".demo")).resolve()
S3_PORT = int(os.environ.get("DBHEALTH_DEMO_S3_PORT", "9000"))
SCRATCH_PORT = int(os.environ.get("DBHEALTH_DEMO_SCRATCH_PORT", "5434"))
S3_URL = f"http://127.0.0.1:{S3_PORT}"
REGIONS = {"primary": "eu-west-2", "replica": "eu-west-1"}
PREFIX = "wedsync/"
# A local stand-in for S3; moto accepts any credentials, printed on purpose.
DEMO_KEY, DEMO_SECRET = "demo-access-key", "demo-secret-key"


def bucket(role: str) -> str:
    return f"wedsync-backups-{REGIONS[role]}"


def s3_argv() -> list[str]:
    local = Path(sys.executable).with_name("moto_server")
    return [str(local) if local.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(S3_PORT)]


def _client(region: str, endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=DEMO_KEY,
        aws_secret_access_key=DEMO_SECRET, config=Config(s3={"addressing_style": "path"}))


def _binary(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else name


def enable_wal_archiving(cluster: LocalCluster, progress: Progress) -> None:
    """Archive WAL with pgBackRest into the local S3 (a segment a minute at least: a real RPO)."""
    conf = physical.configure(cluster)
    command = physical.archive_command(conf)
    with cluster.connect() as conn:
        row = conn.execute("SELECT current_setting('archive_mode'), current_setting('archive_command')"
                           ).fetchone()
        if row and row[0] == "on" and row[1] == command:
            return
        restart = not row or row[0] != "on"
        conn.execute("ALTER SYSTEM SET archive_mode = 'on'")
        conn.execute("ALTER SYSTEM SET wal_level = 'replica'")
        conn.execute(sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(command)))
        conn.execute("ALTER SYSTEM SET archive_timeout = '60'")
        if not restart:
            conn.execute("SELECT pg_reload_conf()")
    if restart:
        progress("demo: enabling WAL archiving with pgBackRest (a restart of the demo database)")
        cluster.stop()
        cluster.start()


def physical_backup(cluster: LocalCluster, progress: Progress, endpoint: str = S3_URL) -> None:
    """Buckets, stanza, one full backup, then the replica region brought up to date."""
    clients = {role: _client(region, endpoint) for role, region in physical.REGIONS.items()}
    for role, client in clients.items():
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if physical.bucket(role) not in existing:
            client.create_bucket(Bucket=physical.bucket(role),
                                 CreateBucketConfiguration={"LocationConstraint": physical.REGIONS[role]})
    conf = physical.configure(cluster)
    for args in (("stanza-create",), ("--type=full", "backup")):
        done = physical.pgbackrest(conf, *args)
        if done.returncode != 0:
            tail = done.stderr.strip()[-300:]
            raise RuntimeError(f"pgbackrest {args[-1]} exited {done.returncode}: {tail}")
        progress(f"demo: pgbackrest {' '.join(args)} done")
    copied = physical.replicate(clients["primary"], clients["replica"])
    progress(f"demo: {copied} pgBackRest objects copied to {physical.bucket('replica')} (replication)")


def start_scratch(progress: Progress) -> LocalCluster:
    scratch = LocalCluster(ROOT / "pg-scratch", SCRATCH_PORT, max_connections=20)
    if not scratch.initialized:
        progress(f"demo: creating the restore drill's scratch cluster in {scratch.root} "
                 f"(port {SCRATCH_PORT})")
        scratch.initdb()
    if not scratch.is_running():
        scratch.start()
    return scratch


def stop_scratch(progress: Progress) -> None:
    scratch = LocalCluster(ROOT / "pg-scratch", SCRATCH_PORT)
    if scratch.initialized and scratch.is_running():
        scratch.stop()
        progress("demo: stopped the scratch PostgreSQL")


def take_backup(dsn: str, progress: Progress, endpoint: str = S3_URL) -> str:
    """Dump the demo database into both regions (buckets created when missing); returns the key."""
    destinations = []
    for role, region in REGIONS.items():
        client = _client(region, endpoint)
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket(role) not in existing:
            client.create_bucket(Bucket=bucket(role),
                                 CreateBucketConfiguration={"LocationConstraint": region})
        destinations.append(Destination(client, bucket(role), PREFIX, region))
    dbname = str(psycopg.conninfo.conninfo_to_dict(dsn).get("dbname", "wedsync"))
    return dump_to_s3(dsn, dbname, destinations[0], destinations[1:], progress).key


def verifier_config(dsn: str, scratch: LocalCluster, endpoint: str = S3_URL,
                    with_physical: bool = False) -> dict[str, Any]:
    regions = {role: {"region": region, "bucket": bucket(role), "prefix": PREFIX, "endpoint_url": endpoint,
                      "access_key_id": DEMO_KEY, "secret_access_key": DEMO_SECRET,
                      "addressing_style": "path"} for role, region in REGIONS.items()}
    return {
        "s3": regions,
        "production": {"url": dsn},
        "scratch": {"url": scratch.dsn("postgres")},
        "drill": {"jobs": 2},
        # A fresh demo has one backup a day at most: the policy a new deployment can keep.
        "retention": {"daily": 1, "weekly": 0, "min_count": 1, "max_age_days": 35},
        **({"pgbackrest": physical.verifier_section()} if with_physical else {}),
    }


def verify_once(dsn: str, scratch: LocalCluster, progress: Progress, with_physical: bool = False) -> int:
    config = ROOT / "backup-verify.yml"
    config.write_text(yaml.safe_dump(verifier_config(dsn, scratch, with_physical=with_physical)))
    progress(f"demo: running dbhealth-backup-verify --config.file {config} (progress in "
             f"{ROOT / 'backup-verify.log'})")
    with open(ROOT / "backup-verify.log", "ab") as log:
        done = subprocess.run([_binary("dbhealth-backup-verify"), "--config.file", str(config)],
                              stdout=subprocess.PIPE, stderr=log, text=False, check=False)
    for line in done.stdout.decode().splitlines():
        progress(f"  {line}")
    return done.returncode


def after_up(dsn: str, progress: Progress, cluster: LocalCluster | None = None) -> None:
    """Once every service runs: a scratch server, physical and logical backups, one verification."""
    try:
        scratch = start_scratch(progress)
        if cluster is not None:
            physical_backup(cluster, progress)
        take_backup(dsn, progress)
        verify_once(dsn, scratch, progress, with_physical=cluster is not None)
    except Exception as exc:  # the rest of the demo is useful without backups; say why
        progress(f"demo: backups not set up: {type(exc).__name__}: {exc}")
