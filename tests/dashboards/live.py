"""The real pipeline the dashboards are evaluated on, with demo data, all on free ports.

A PostgreSQL cluster that archives WAL, seeded with the demo schema and watched by the
real exporter (as the demo's pg_monitor role, with Redis); a backup of it in a local
S3 (moto) in both regions, verified once by the real ``dbhealth-backup-verify`` with a
restore drill; the receiver (gunicorn and its worker) with local SMS/SMTP stand-ins,
one webhook delivered; Alertmanager on the example config rendered as compose renders it;
Prometheus running the shipped ``deploy/prometheus/prometheus.yml`` (its intervals and
jobs) with the shipped rules; and, once Prometheus scrapes, a burst of refused requests
that makes a real alert (``DBHealthReceiverAuthFailuresSpike``) pend, fire and reach
Alertmanager.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

import psycopg
import yaml

from demo import backups, promconfig
from demo.roles import create_monitoring_role
from demo.seed import SeedScale, apply_schema, seed
from demo.sinks import SmtpSink, TwilioSink
from demo.stack import MONITOR_ROLE, monitor_dsn
from exporter.migrate import migrate
from receiver.migrate import migrate as migrate_receiver

from ..backup.moto_s3 import MotoServer
from ..receiver.payloads import body, firing
from ..support.polling import wait_until
from ..support.ports import free_port
from ..support.postgres import PostgresServer
from ..support.prometheus import PrometheusServer
from ..support.receiver_stack import TOKEN, Gunicorn, Worker, make_policy, receiver_env, write_policy
from ..support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
RULES = sorted((REPO / "rules").glob("*.rules.yml"))
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AUTH_BURST = 40  # refused requests: above DBHealthReceiverAuthFailuresSpike's 5-minute threshold
SPIKE = "DBHealthReceiverAuthFailuresSpike"


class _Server(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


class LiveStack:
    def __init__(self, scratch: PostgresServer):
        self.scratch = scratch
        self.tmp = Path(tempfile.mkdtemp(prefix="dbhealth-dash-"))
        self._stops: list[Callable[[], object]] = []

    def start(self) -> None:
        self.database = self._database()
        self._backup_and_verify()
        self.redis = self._started(RedisServer())
        self.exporter_port = free_port()
        self.exporter = self._process(
            [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{self.exporter_port}",
             "--database.url", monitor_dsn(self.dsn), "--redis.url", self.redis.url], "exporter")
        wait_until(lambda: self._answers(f"{self.exporter_url}/health"), timeout=60,
                   what="the exporter to answer /health")
        # The backup collector finds its table on the first collection and reads it from the
        # next one on (after the cache TTL): wait for the verifier's verdicts to be served.
        wait_until(lambda: "dbhealth_backup_verification_success{" in self.metrics_text(self.exporter_url),
                   timeout=150, interval=1.0, what="the exporter to serve the backup verdicts")
        self._receiver()
        self._alertmanager()
        self.prometheus = self._started(PrometheusServer(promconfig.local_config(
            {promconfig.EXPORTER_JOB: f"127.0.0.1:{self.exporter_port}",
             promconfig.RECEIVER_JOB: f"127.0.0.1:{self.gunicorn.port}"},
            f"127.0.0.1:{self.alertmanager_port}", RULES)))
        wait_until(self.targets_up, timeout=60, what="prometheus to scrape both targets")
        # A real alert through the pipeline: a burst of refused requests after the first
        # scrape makes DBHealthReceiverAuthFailuresSpike pending, then firing.
        for _ in range(AUTH_BURST):
            self._refused_request()

    def _alertmanager(self) -> None:
        """Alertmanager on the example config, rendered exactly as compose renders it."""
        self.alertmanager_port = free_port()
        token = self.tmp / "receiver_token"
        token.write_text(TOKEN)
        config = self.tmp / "alertmanager.yml"
        subprocess.run(["sh", str(REPO / "deploy/alertmanager/render.sh"), "true"], check=True, env={
            "PATH": "/usr/bin:/bin", "EXAMPLE": str(REPO / "rules/alertmanager.yml"), "OUT": str(config),
            "RECEIVER": self.gunicorn.url, "TOKEN_FILE": str(token)}, timeout=30)
        self._process([ALERTMANAGER, f"--config.file={config}", f"--storage.path={self.tmp / 'am'}",
                       f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                       "--cluster.listen-address="], "alertmanager")
        wait_until(lambda: self._answers(f"{self.alertmanager_url}/-/ready"), timeout=30,
                   what="alertmanager to be ready")

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def _refused_request(self) -> None:
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(urllib.request.Request(
                f"{self.gunicorn.url}/api/v1/alerts", data=b"{}", method="POST"), timeout=10)

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.exporter_port}"

    def _started(self, server: S) -> S:
        server.start()
        self._stops.append(server.stop)
        return server

    def _database(self) -> PostgresServer:
        # archive_command 'true': pg_stat_archiver reports real successes, nothing is kept.
        server = PostgresServer(extra_conf={"archive_mode": "on", "archive_command": "'true'",
                                            "archive_timeout": "60"})
        server.start()
        self._stops.append(server.destroy)
        self.dsn = server.create_database("wedsync")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
            apply_schema(conn)
            seed(conn, SeedScale(weddings=400, guests_per_wedding=25, weddings_today=6), date.today(),
                 progress=lambda _msg: None)
        migrate(self.dsn, progress=lambda _msg: None)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            create_monitoring_role(conn, MONITOR_ROLE)
            conn.execute("SELECT pg_switch_wal()")
            wait_until(lambda: conn.execute(
                "SELECT archived_count FROM pg_stat_archiver").fetchone()[0] > 0,  # type: ignore[index]
                what="the first archived WAL segment")
            # Statements for the domains, the top-N and the index advisor: lookups on the
            # columns the demo schema leaves unindexed on purpose.
            for n in range(50):
                conn.execute("SELECT id FROM guests WHERE email = %s", [f"guest{n}@example.com"])
                conn.execute("SELECT id FROM bookings WHERE vendor_id = %s", [n])
        return server

    def _backup_and_verify(self) -> None:
        moto = self._started(MotoServer())
        backups.take_backup(self.dsn, lambda _msg: None, moto.url)
        config = self.tmp / "backup-verify.yml"
        config.write_text(yaml.safe_dump(backups.verifier_config(self.dsn, self.scratch, moto.url)))
        done = subprocess.run([sys.executable, "-m", "backup", "--config.file", str(config)],
                              capture_output=True, text=True, cwd=REPO, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    def _receiver(self) -> None:
        sms, smtp = self._started(TwilioSink()), self._started(SmtpSink())
        dsn = self.scratch.create_database("dash_receiver")
        migrate_receiver(dsn, progress=lambda _msg: None)
        env = receiver_env(dsn, write_policy(make_policy(), self.tmp), sms_base_url=sms.base_url,
                           smtp_url=smtp.url)
        self.gunicorn = Gunicorn(env, workers=1)
        self.gunicorn.start()
        self._stops.append(self.gunicorn.stop)
        worker = Worker(env)
        worker.start()
        self._stops.append(worker.stop)
        request = urllib.request.Request(
            f"{self.gunicorn.url}/api/v1/alerts", data=body(firing(alertname="DBHealthLockWaiters")),
            method="POST", headers={"Content-Type": "application/json",
                                    "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        self._refused_request()  # the auth-failure series exist before Prometheus' first scrape
        wait_until(lambda: sms.messages_to("+447700900001"), timeout=60, what="the page's SMS")

    def _process(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

        def stop() -> None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()

        self._stops.append(stop)
        return proc

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics_text(self, base_url: str) -> str:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=15) as response:
            return str(response.read().decode())

    def targets_up(self) -> bool:
        found = self.prometheus.api("targets", state="active")["data"]["activeTargets"]
        return len(found) == 2 and all(t["health"] == "up" for t in found)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()

    def describe(self) -> str:
        return json.dumps({"tmp": str(self.tmp), "exporter": self.exporter_url,
                           "prometheus": self.prometheus.url, "receiver": self.gunicorn.url})
