"""``dbhealth-demo up|down|status``: the whole system, locally, as plain processes.

``up`` creates (once) a PostgreSQL cluster of its own under ``.demo/`` with
pg_stat_statements, seeds the WedSync-like database at realistic scale, then
starts Redis, the exporter, a load generator, Prometheus with the shipped rules,
Alertmanager, and the receiver with local SMS/SMTP sinks when those parts are
present. Everything runs in the background; ``down`` stops it all.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from exporter.migrate import migrate

from . import backups, promconfig
from . import pgbackrest as physical
from .cluster import LocalCluster
from .processes import alive, port_taken, read_pids, stop, wait_ready, write_pids
from .roles import create_monitoring_role
from .seed import SeedScale, apply_schema, is_seeded, seed

ROOT = Path(os.environ.get("DBHEALTH_DEMO_DIR", ".demo")).resolve()
PG_PORT = int(os.environ.get("DBHEALTH_DEMO_PG_PORT", "5433"))
MONITOR_ROLE = "dbhealth"  # a pg_monitor member: what the exporter connects as
REDIS_PORT = int(os.environ.get("DBHEALTH_DEMO_REDIS_PORT", "6380"))


def _port(name: str, default: int) -> int:
    """``DBHEALTH_DEMO_<name>_PORT``, else the default (README "The demo's ports")."""
    value = os.environ.get(f"DBHEALTH_DEMO_{name}_PORT", str(default))
    try:
        port = int(value)
    except ValueError:
        raise SystemExit(f"demo: DBHEALTH_DEMO_{name}_PORT={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"demo: DBHEALTH_DEMO_{name}_PORT={port} is not a port number")
    return port


# The defaults match docker-compose.yml's container ports (tests/deploy/test_agreement.py).
DEFAULT_PORTS = {"EXPORTER": 9188, "PROMETHEUS": 9090, "ALERTMANAGER": 9093, "RECEIVER": 9095,
                 "SMS": 9190, "SMTP": 9125}
EXPORTER_PORT = _port("EXPORTER", DEFAULT_PORTS["EXPORTER"])
PROMETHEUS_PORT = _port("PROMETHEUS", DEFAULT_PORTS["PROMETHEUS"])
ALERTMANAGER_PORT = _port("ALERTMANAGER", DEFAULT_PORTS["ALERTMANAGER"])
RECEIVER_PORT = _port("RECEIVER", DEFAULT_PORTS["RECEIVER"])
SMS_PORT = _port("SMS", DEFAULT_PORTS["SMS"])
SMTP_PORT = _port("SMTP", DEFAULT_PORTS["SMTP"])
EXPORTER = f"127.0.0.1:{EXPORTER_PORT}"
PROMETHEUS = f"127.0.0.1:{PROMETHEUS_PORT}"
ALERTMANAGER = f"127.0.0.1:{ALERTMANAGER_PORT}"
RECEIVER = f"127.0.0.1:{RECEIVER_PORT}"
RECEIVER_TOKEN = "demo-receiver-token"  # noqa: S105 - a local demo credential, printed on purpose
READ_TOKEN = "demo-read-token"  # noqa: S105 - reads incidents in the demo, printed on purpose
Progress = Callable[[str], None]


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def _bin(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else name


def prepare_database(progress: Progress) -> str:
    cluster = LocalCluster(ROOT / "pg", PG_PORT)
    if not cluster.initialized:
        progress(f"demo: creating a PostgreSQL cluster in {cluster.root} (port {PG_PORT})")
        cluster.initdb()
    if not cluster.is_running():
        cluster.start()
    backups.enable_wal_archiving(cluster, progress)
    dsn = cluster.dsn("wedsync")
    with cluster.connect() as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'wedsync'").fetchone():
            admin.execute("CREATE DATABASE wedsync")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        apply_schema(conn)
        if not is_seeded(conn):
            seed(conn, SeedScale(extra_tables=150), date.today(), progress)
    migrate(dsn, progress)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The exporter runs as a pg_monitor member, never as the superuser the demo
        # administers the cluster with (docs: README "Permissions").
        create_monitoring_role(conn, MONITOR_ROLE)
    with cluster.connect() as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'receiver'").fetchone():
            admin.execute("CREATE DATABASE receiver")
    return dsn


def monitor_dsn(dsn: str) -> str:
    """The demo database as the monitoring role (trust authentication, as in the demo)."""
    return dsn.replace("postgres@", f"{MONITOR_ROLE}@", 1)


def receiver_env(dsn: str) -> dict[str, str]:
    """The receiver keeps its own database; vendors come from the wedding database."""
    return {
        "RECEIVER_DATABASE_URL": dsn.rsplit("/", 1)[0] + "/receiver",
        "RECEIVER_VENDOR_DATABASE_URL": dsn,
        "RECEIVER_CONFIG": str(Path("receiver/example-policy.yml").resolve()),
        "RECEIVER_AUTH_TOKEN": RECEIVER_TOKEN,
        "RECEIVER_SMS_BASE_URL": f"http://127.0.0.1:{SMS_PORT}",
        "RECEIVER_SMS_ACCOUNT_SID": "ACdemo",
        "RECEIVER_SMS_AUTH_TOKEN": "demo-sms-token",
        "RECEIVER_SMS_FROM": "+15005550006",
        "RECEIVER_SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        # Pages carry a signed link to the incident page; replies "ACK <id>" would reach
        # /api/v1/sms/inbound if the SMS provider could call us (locally it cannot).
        "RECEIVER_PUBLIC_BASE_URL": f"http://{RECEIVER}",
        "RECEIVER_LINK_SECRET": _link_secret(),
        "RECEIVER_READ_TOKEN": READ_TOKEN,
    }


def _link_secret() -> str:
    """A random link key per demo directory, kept so links in old pages still open."""
    path = ROOT / "receiver-link-secret"
    if not path.exists():
        ROOT.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def prometheus_config(rule_files: list[str]) -> dict[str, Any]:
    """The shipped config (its intervals and jobs), pointed at the demo's processes."""
    return promconfig.local_config(
        {promconfig.EXPORTER_JOB: EXPORTER, promconfig.RECEIVER_JOB: RECEIVER}, ALERTMANAGER,
        [Path(p) for p in rule_files])


def services(dsn: str) -> list[Service]:
    redis_url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    found: list[Service] = [
        Service("redis", ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"]),
        Service("exporter", [_bin("dbhealth-exporter"), "--web.listen-address", EXPORTER,
                             "--database.url", monitor_dsn(dsn), "--redis.url", redis_url],
                url=f"http://{EXPORTER}/health"),
        Service("load", [_bin("dbhealth-demo"), "--dsn", dsn, "load", "--duration", "86400",
                         "--clients", "3", "--rate", "3"]),
    ]
    found.append(Service("s3", backups.s3_argv(), url=f"{backups.S3_URL}/"))
    found.append(Service("s3-tls", physical.tls_argv(backups.S3_PORT)))  # pgBackRest needs TLS
    rule_files = sorted(str(p) for p in Path("rules").glob("*.rules.yml"))
    if shutil.which("prometheus"):
        config = ROOT / "prometheus.yml"
        config.write_text(json.dumps(prometheus_config(rule_files), indent=2))
        found.append(Service("prometheus", ["prometheus", f"--config.file={config}",
                                            f"--storage.tsdb.path={ROOT / 'prometheus'}",
                                            f"--web.listen-address={PROMETHEUS}"],
                             url=f"http://{PROMETHEUS}/-/ready"))
    if Path("receiver").is_dir():
        env = receiver_env(dsn)
        subprocess.run([_bin("dbhealth-receiver"), "migrate"], env={**os.environ, **env},
                       check=True, stdout=subprocess.DEVNULL)
        found += [
            Service("sinks", [_bin("dbhealth-demo"), "sinks", "--sms-port", str(SMS_PORT),
                              "--smtp-port", str(SMTP_PORT)]),
            Service("receiver", [_bin("dbhealth-receiver"), "--bind", RECEIVER], env=env,
                    url=f"http://{RECEIVER}/healthz"),
            Service("receiver-worker", [_bin("dbhealth-receiver-worker")], env=env),
        ]
    example = Path("rules/alertmanager.yml")
    if shutil.which("prometheus-alertmanager") and example.exists():
        am_config = ROOT / "alertmanager.yml"
        am_config.write_text(example.read_text().replace(
            "change-me-to-RECEIVER_AUTH_TOKEN", RECEIVER_TOKEN).replace(
            "http://127.0.0.1:9095/", f"http://{RECEIVER}/"))
        found.append(Service("alertmanager", [
            "prometheus-alertmanager", f"--config.file={am_config}",
            f"--storage.path={ROOT / 'alertmanager'}", f"--web.listen-address={ALERTMANAGER}",
            "--cluster.listen-address="], url=f"http://{ALERTMANAGER}/-/ready"))
    return found


def child_env(service: Service) -> dict[str, str]:
    """The service's environment: ours without the demo's own DBHEALTH_DEMO_* settings (the
    exporter refuses DBHEALTH_* variables it does not know), plus the service's."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DBHEALTH_DEMO_")}
    return {**inherited, **service.env}


# Each port the demo listens on: the service that listens, and its variable.
PORTS: dict[str, tuple[str, int]] = {
    "postgresql": ("PG", PG_PORT), "redis": ("REDIS", REDIS_PORT),
    "exporter": ("EXPORTER", EXPORTER_PORT), "prometheus": ("PROMETHEUS", PROMETHEUS_PORT),
    "alertmanager": ("ALERTMANAGER", ALERTMANAGER_PORT), "receiver": ("RECEIVER", RECEIVER_PORT),
    "sinks": ("SMS", SMS_PORT), "sinks-smtp": ("SMTP", SMTP_PORT), "s3": ("S3", backups.S3_PORT),
    "scratch": ("SCRATCH", backups.SCRATCH_PORT),
}


def taken_ports(running: set[str]) -> list[str]:
    """One message per port the demo needs that something else holds.

    Ports of the demo's own running services (and of its own running database) are not
    checked: they are taken by the demo itself.
    """
    problems = []
    for service, (name, port) in PORTS.items():
        if service.split("-")[0] in running:
            continue
        if port_taken(port):
            problems.append(f"demo: port {port} ({service}) is taken by another program; "
                            f"set DBHEALTH_DEMO_{name}_PORT to a free port")
    return problems


def up(progress: Progress = print) -> int:
    ROOT.mkdir(parents=True, exist_ok=True)
    pids = {name: pid for name, pid in read_pids(ROOT).items() if alive(pid)}
    running = set(pids)
    if LocalCluster(ROOT / "pg", PG_PORT).is_running():
        running.add("postgresql")
    if LocalCluster(ROOT / "pg-scratch", backups.SCRATCH_PORT).is_running():
        running.add("scratch")
    problems = taken_ports(running)
    if problems:
        for problem in problems:
            progress(problem)
        return 2
    dsn = prepare_database(progress)
    for service in services(dsn):
        if service.name in pids:
            progress(f"demo: {service.name} already running (pid {pids[service.name]})")
            continue
        log = open(ROOT / f"{service.name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(service.argv, stdout=log, stderr=subprocess.STDOUT,
                                env=child_env(service), start_new_session=True)
        pids[service.name] = proc.pid
        write_pids(ROOT, pids)
        ready = "" if service.url is None or wait_ready(service.url) else " (not ready yet, see log)"
        progress(f"demo: started {service.name} (pid {proc.pid}){ready}")
    backups.after_up(dsn, progress, LocalCluster(ROOT / "pg", PG_PORT))
    _summary(dsn, progress)
    return 0


def _summary(dsn: str, progress: Progress) -> None:
    try:
        with urllib.request.urlopen(f"http://{EXPORTER}/metrics", timeout=10) as response:
            lines = response.read().decode().splitlines()
    except OSError as exc:
        progress(f"demo: exporter not answering yet: {exc}")
        lines = []
    keys = ("dbhealth_up ", "dbhealth_connection_utilization_ratio ", "dbhealth_wedding_day_mode ",
            "dbhealth_weddings_today ", "dbhealth_vendors_booked_today ", "dbhealth_collection_",
            "dbhealth_backup_verification_success", "dbhealth_backup_restore_duration_seconds ")
    progress("\n".join([
        "", "dbhealth demo is running:",
        f"  metrics            http://{EXPORTER}/metrics",
        f"  health             http://{EXPORTER}/health   http://{EXPORTER}/health/full",
        f"  wedding day        http://{EXPORTER}/health/wedding-day",
        f"  query report       http://{EXPORTER}/queries",
        f"  prometheus         http://{PROMETHEUS}/alerts",
        f"  alertmanager       http://{ALERTMANAGER}/",
        f"  receiver           http://{RECEIVER}/healthz   http://{RECEIVER}/metrics",
        f"  status page        http://{RECEIVER}/status   http://{RECEIVER}/status.json",
        f"  incidents          curl -H 'Authorization: Bearer {READ_TOKEN}' "
        f"http://{RECEIVER}/api/v1/incidents",
        f"  SMS / email sent   {ROOT}/sinks.log (local stand-ins for Twilio and SMTP;"
        " each page's link opens the incident page and acknowledges it)",
        f"  backups            {backups.S3_URL} (local S3, two regions; pgBackRest through "
        f"https://localhost:{physical.TLS_PORT}); verify again with "
        f"dbhealth-backup-verify --config.file {ROOT}/backup-verify.yml",
        f"  demo database      {dsn}",
        f"  logs               {ROOT}/*.log",
        "  stop with          .venv/bin/dbhealth-demo down", "",
        "a few live values:", *[f"  {line}" for line in lines if line.startswith(keys)],
    ]))


# The WAL archive's store stops last: PostgreSQL's shutdown archives its last segments
# through pgBackRest, which would otherwise retry against a dead S3 until pg_ctl gives up.
ARCHIVE_STORE = ("s3", "s3-tls")


def down(progress: Progress = print) -> int:
    pids = read_pids(ROOT)
    for name, pid in pids.items():
        if name not in ARCHIVE_STORE:
            stop(name, pid, progress)
    backups.stop_scratch(progress)
    cluster = LocalCluster(ROOT / "pg", PG_PORT)
    if cluster.initialized and cluster.is_running():
        try:
            cluster.stop()
        except RuntimeError as exc:
            # A demo from before this order, or an archive store already gone: nothing left to
            # archive to, so do not wait for it (the data directory recovers on the next start).
            progress(f"demo: PostgreSQL did not stop in time ({exc}); stopping it immediately")
            cluster.stop("immediate")
        progress("demo: stopped PostgreSQL (data kept in .demo/pg; rm -rf .demo to start afresh)")
    for name in ARCHIVE_STORE:
        if name in pids:
            stop(name, pids[name], progress)
    (ROOT / "pids.json").unlink(missing_ok=True)
    return 0


def status(progress: Progress = print) -> int:
    pids = read_pids(ROOT)
    for name, pid in pids.items():
        progress(f"{name:14} pid {pid:<8} {'running' if alive(pid) else 'STOPPED'}")
    return 0 if pids and all(alive(p) for p in pids.values()) else 1
