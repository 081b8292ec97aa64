"""The compose backup profile's pgBackRest chain, for real, with the repository's own files.

A PostgreSQL 15 cluster archives with the compose ``archive_command`` (the wrapper
deploy/postgres/archive-push.sh, its mount's file name kept: pgBackRest requires
"pgbackrest" in the command) and the postmaster's environment from compose;
``deploy/postgres/pgbackrest-init.sh`` runs with the data directory mounted read-only
as in compose; ``dbhealth-demo pgbackrest-buckets``/``pgbackrest-sync`` run the compose
commands; the verifier reads the result with the section of deploy/compose/backup-verify.yml.
pgBackRest reads deploy/postgres/pgbackrest.conf itself; only what differs from the
compose network is set in its environment (port, CA file, data directory, socket, lock
path), and ``s3-tls`` resolves through a private /etc/hosts (backup_stack.py), so the
certificate is checked against the service name as in compose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from backup.pgbackrest import catalog
from backup.pgbackrest.ini import parse
from exporter.migrate import migrate

from ..backup.moto_s3 import MotoServer
from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from .backup_stack import CONF, S3Tls, can_unshare, in_namespace
from .test_compose import REPO, config

BIN = Path(sys.executable).parent
PRIMARY, REPLICA = "wedsync-pgbackrest-eu-west-2", "wedsync-pgbackrest-eu-west-1"
INFO = "pgbackrest/backup/wedsync/backup.info"


@dataclass
class Chain:
    services: dict[str, Any]
    moto: MotoServer
    s3: S3Tls
    server: PostgresServer
    env: dict[str, str]          # the postmaster's and pgbackrest-init's environment
    marker: Path
    skipped: str                 # a segment closed before the marker
    init: subprocess.CompletedProcess[str]

    def run_init(self, **extra: str) -> subprocess.CompletedProcess[str]:
        init = self.services["pgbackrest-init"]
        env = [*self.kv(), *(f"{k}={v}" for k, v in extra.items())]
        argv = ["runuser", "-u", "postgres", "--", "env", *env, *self._local(init["entrypoint"])]
        return subprocess.run(in_namespace(self.s3.hosts, argv, read_only=self.server.datadir),
                              capture_output=True, text=True, timeout=600)

    def kv(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.env.items()]

    def _local(self, argv: list[str]) -> list[str]:
        mounts = {v["target"]: v["source"] for v in self.services["pgbackrest-init"]["volumes"]
                  if v["type"] == "bind"}
        return [mounts.get(arg, arg) for arg in argv]

    def demo(self, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        argv = [a.replace("http://s3:5000", self.moto.url) for a in self.services[name]["command"]]
        argv = [str(BIN / argv[0]), *argv[1:], *extra]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)

    def backups(self) -> list[catalog.BackupEntry]:
        info = self.moto.client("eu-west-2").get_object(Bucket=PRIMARY, Key=INFO)["Body"].read()
        # Oldest first: a label ends with its own start time (an incremental's follows its full's).
        return sorted(catalog.backups(parse(info.decode())), key=lambda b: b.label.split("_")[-1])

    def keys(self, bucket: str) -> dict[str, str]:
        pages = self.moto.client("eu-west-2").get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}

    def switch_and_wait(self) -> str:
        with self.server.connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS marks (id serial, at timestamptz DEFAULT now())")
            conn.execute("INSERT INTO marks DEFAULT VALUES")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
            assert row is not None
            segment = str(row[0])
            query = "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
            wait_until(lambda: str((conn.execute(query).fetchone() or ("",))[0]) >= segment, timeout=120,
                       what=f"{segment} archived")
            return segment


def _start(services: dict[str, Any], s3: S3Tls, work: Path) -> tuple[PostgresServer, dict[str, str]]:
    postgres = services["postgres"]
    bin_dir = work / "bin"
    bin_dir.mkdir()
    mounts = {v["target"]: v["source"] for v in postgres["volumes"] if v["type"] == "bind"}
    conf = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in postgres["command"] if "=" in a}
    wrapper = conf["archive_command"].split()[1]
    (bin_dir / Path(wrapper).name).symlink_to(mounts[wrapper])
    secret = work / "s3_secret_key"
    secret.write_text("secret-from-file\n")
    secret.chmod(0o644)
    server = PostgresServer(initdb=False, extra_conf={
        k: f"'{conf[k].replace(wrapper, str(bin_dir / Path(wrapper).name))}'"
        for k in ("archive_mode", "archive_command", "archive_timeout", "wal_level")})
    server._prepare_root()
    server._run([str(server.bindir / "initdb"), "-D", str(server.datadir), "-U", "postgres",
                 "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "-k", "--wal-segsize=1"])
    server.write_conf()
    env = {k: v for k, v in postgres["environment"].items() if k.startswith("PGBACKREST_")}
    env["PGBACKREST_REPO1_S3_KEY_SECRET_FILE"] = str(secret)
    env.update(s3.pgbackrest_env(), PGBACKREST_CONFIG=str(CONF), PGBACKREST_PG1_PATH=str(server.datadir),
               PGBACKREST_PG1_PORT=str(server.port), PGBACKREST_PG1_SOCKET_PATH=str(server.root),
               PGBACKREST_LOCK_PATH=str(work / "lock"), PATH="/usr/bin:/bin",
               DBHEALTH_ARCHIVE_MARKER=str(work / "marker/stanza-ready"),
               PGBACKREST_FULL_WEEKDAY=str(datetime.now(UTC).isoweekday() % 7 + 1))  # not today
    pg_ctl = [str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-l", str(server.logfile),
              "-w", "-t", "60", "start"]
    argv = ["runuser", "-u", "postgres", "--", "env", *[f"{k}={v}" for k, v in env.items()], *pg_ctl]
    # The postmaster stays in the namespace, so archive_command resolves s3-tls like in compose.
    subprocess.run(in_namespace(s3.hosts, argv), check=True, capture_output=True, timeout=120)
    return server, env


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    # No skip: setup.sh installs pgbackrest and socat, and the suite runs as root (the
    # clusters run as the postgres OS user); a private /etc/hosts makes s3-tls resolve.
    assert shutil.which("pgbackrest") and shutil.which("socat"), "run scripts/setup.sh"
    assert can_unshare(), "needs root and unshare(1) for a private /etc/hosts (util-linux)"
    services: dict[str, Any] = config("*")["services"]
    moto = MotoServer()
    moto.start()
    s3 = S3Tls(moto, services["s3-tls"])
    s3.start()
    work = s3.dir / "work"
    for path in (work, work / "marker", work / "lock"):
        path.mkdir()
        shutil.chown(path, "postgres", "postgres")
    server: PostgresServer | None = None
    try:
        server, env = _start(services, s3, work)
        chain = Chain(services, moto, s3, server, env, work / "marker/stanza-ready", "",
                      subprocess.CompletedProcess([], 0))
        buckets = chain.demo("pgbackrest-buckets")
        assert buckets.returncode == 0, buckets.stderr
        chain.skipped = chain.switch_and_wait()
        chain.init = chain.run_init()
        yield chain
    finally:
        if server is not None:
            server.destroy()
        s3.stop()
        moto.stop()


def test_before_the_marker_segments_are_logged_as_skipped_and_recycled(chain: Chain) -> None:
    log = chain.server.logfile.read_text()
    assert f"skipping {chain.skipped}, not archived" in log
    with chain.server.connect() as conn:
        row = conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()
    assert row == (0,)
    assert not any(chain.skipped in key for key in chain.keys(PRIMARY))  # never reached the store


def test_pgbackrest_init_arms_archiving_and_takes_the_first_full_backup(chain: Chain) -> None:
    assert chain.init.returncode == 0, chain.init.stdout[-2000:] + chain.init.stderr[-2000:]
    assert "WAL archiving armed" in chain.init.stdout
    assert chain.marker.read_text().startswith("stanza wedsync created ")
    info = chain.moto.client("eu-west-2").get_object(Bucket=PRIMARY, Key=INFO)["Body"].read()
    [entry] = catalog.backups(parse(info.decode()))
    assert entry.label.endswith("F")  # incremental asked, full made: there was none
    segment = chain.switch_and_wait()  # armed: archive-push pushes, through s3-tls, checked TLS
    assert any(f"/{segment}-" in key for key in chain.keys(PRIMARY))
    with chain.server.connect() as conn:
        assert conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone() == (0,)


def test_rerunning_init_is_harmless_and_sync_copies_only_what_changed(chain: Chain) -> None:
    first = chain.demo("pgbackrest-sync", "--once")
    assert first.returncode == 0, first.stderr
    assert chain.keys(REPLICA).keys() == chain.keys(PRIMARY).keys()
    again = chain.demo("pgbackrest-sync", "--once")
    assert "0 object(s) copied" in again.stdout
    before = chain.keys(PRIMARY)
    rerun = chain.run_init()  # `docker compose up` again: stanza kept, marker kept, an incremental
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "already exists" in rerun.stdout and "armed" not in rerun.stdout
    after = chain.keys(PRIMARY)
    changed = {k for k, etag in after.items() if before.get(k) != etag}
    assert INFO in changed
    third = chain.demo("pgbackrest-sync", "--once")
    assert f"{len(changed)} object(s) copied" in third.stdout, (third.stdout, sorted(changed))
    assert chain.keys(REPLICA).keys() == after.keys()
    assert [b.label[-1] for b in chain.backups()] == ["F", "I"]


def test_the_nightly_rerun_takes_a_full_backup_on_the_full_weekday(chain: Chain) -> None:
    today = str(datetime.now(UTC).isoweekday())
    nightly = chain.run_init(PGBACKREST_FULL_WEEKDAY=today)
    assert nightly.returncode == 0, nightly.stderr[-2000:]
    assert [b.label[-1] for b in chain.backups()][-1] == "F"


def test_the_verifier_section_reads_both_regions_and_drills_through_s3_tls(chain: Chain,
                                                                           tmp_path: Path) -> None:
    """As the compose verifier: endpoint and CA from the file, S3 keys only in the environment."""
    assert chain.demo("pgbackrest-sync", "--once").returncode == 0
    migrate(chain.server.dsn(), progress=lambda _msg: None)  # the audit table the verifier writes
    settings = yaml.safe_load((REPO / "deploy/compose/backup-verify.yml").read_text())
    section = settings["pgbackrest"]
    for region in section["repo"].values():
        region["endpoint_url"] = region["endpoint_url"].replace(":9443", f":{chain.s3.port}")
        region["ca_bundle"] = str(chain.s3.cert)
    drill = chain.s3.dir / "drill"  # the drill runs as postgres (we are root): not under tmp_path
    drill.mkdir()
    shutil.chown(drill, "postgres", "postgres")
    section["drill"]["work_dir"] = str(drill)
    config_file = tmp_path / "verify.yml"
    config_file.write_text(yaml.safe_dump({
        "pgbackrest": section, "production": {"url": chain.server.dsn()},
        "scratch": {"url": "postgresql://postgres@127.0.0.1:1/postgres"},
        "retention": settings["retention"]}))
    argv = [str(BIN / "dbhealth-backup-verify"), "--config.file", str(config_file),
            "--check", "inventory,integrity,wal,cross_region,restore"]
    # What the compose entrypoint makes of AWS_SECRET_ACCESS_KEY_FILE / PGBACKREST_..._SECRET_FILE.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
           "PGBACKREST_REPO1_S3_KEY": "k", "PGBACKREST_REPO1_S3_KEY_SECRET": "s"}
    done = subprocess.run(in_namespace(chain.s3.hosts, argv), capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    for check in ("inventory", "integrity", "wal", "cross_region", "restore"):
        assert any(line.split()[:3] == [check, "PASSED", "physical"] for line in done.stdout.splitlines()), \
            done.stdout
    with psycopg.connect(chain.server.dsn()) as conn:
        assert conn.execute("SELECT count(*) FROM backup_verification_audit").fetchone() != (0,)
