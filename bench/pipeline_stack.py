"""The whole alerting pipeline as shipped, on free loopback ports, for bench/page_latency.py.

Two PostgreSQL clusters (the monitored WedSync database, and the receiver's own: in
production they never share a server, or a database outage would take the pager with
it), the exporter with its default cache settings, Prometheus with the shipped rules and
intervals, Alertmanager with the shipped example configuration, the receiver, its worker
and a Twilio stand-in. Nothing is tuned for the benchmark: what it measures is what an
operator who follows the README gets.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from demo.cluster import LocalCluster
from demo.roles import create_monitoring_role
from demo.seed import SeedScale, apply_schema, seed
from demo.sinks import TwilioSink
from exporter.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-receiver-token"
READ_TOKEN = "bench-read-token"
ON_CALL = "+447700900001"  # alice, tier 1 of receiver/example-policy.yml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shipped_intervals() -> tuple[str, str]:
    """(scrape, evaluation) as shipped in deploy/prometheus/prometheus.yml."""
    from demo.promconfig import shipped
    config = shipped()["global"]
    return str(config["scrape_interval"]), str(config["evaluation_interval"])


def get_json(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


class PipelineStack:
    def __init__(self, progress: Any = print) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dbhealth-pipeline-"))
        self.root.chmod(0o755)  # the clusters run as postgres when we are root
        self.progress = progress
        self.monitored = LocalCluster(self.root / "wedsync", free_port())
        self.receiver_db = LocalCluster(self.root / "receiver", free_port())
        self.ports = {name: free_port() for name in
                      ("exporter", "prometheus", "alertmanager", "receiver")}
        self.sms = TwilioSink()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    # -- set-up ---------------------------------------------------------------------------
    def start(self) -> None:
        for cluster in (self.monitored, self.receiver_db):
            cluster.initdb()
            cluster.start()
        with self.monitored.connect() as admin:
            admin.execute("CREATE DATABASE wedsync")
        dsn = self.monitored.dsn("wedsync")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            apply_schema(conn)
            # 12 weddings today: a wedding day by the exporter's own rule (>= 10).
            seed(conn, SeedScale(weddings=200, guests_per_wedding=5, weddings_today=12),
                 date.today(), lambda _line: None)
        migrate(dsn, lambda _line: None)
        with psycopg.connect(dsn, autocommit=True) as conn:
            create_monitoring_role(conn, "dbhealth")
        with self.receiver_db.connect() as admin:
            admin.execute("CREATE DATABASE receiver")
        self.sms.start()
        env = self._receiver_env()
        subprocess.run([sys.executable, "-m", "receiver", "migrate"], env=env, cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL)
        self._spawn("receiver", [sys.executable, "-m", "receiver", "--bind",
                                 f"127.0.0.1:{self.ports['receiver']}"], env)
        self._spawn("worker", [str(Path(sys.executable).with_name("dbhealth-receiver-worker"))], env)
        self._spawn("exporter", [sys.executable, "-m", "exporter", "--web.listen-address",
                                 f"127.0.0.1:{self.ports['exporter']}", "--database.url",
                                 dsn.replace("postgres@", "dbhealth@", 1)], dict(os.environ))
        self._spawn("alertmanager", ["prometheus-alertmanager",
                                     f"--config.file={self._alertmanager_config()}",
                                     f"--storage.path={self.root / 'am'}",
                                     f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}",
                                     "--cluster.listen-address="], dict(os.environ))
        self._spawn("prometheus", ["prometheus", f"--config.file={self._prometheus_config()}",
                                   f"--storage.tsdb.path={self.root / 'prom'}",
                                   f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}"],
                    dict(os.environ))
        for name, path in (("receiver", "/healthz"), ("exporter", "/health"),
                           ("alertmanager", "/-/ready"), ("prometheus", "/-/ready")):
            wait_for(self.url(name) + path)

    def _receiver_env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO),
                "RECEIVER_DATABASE_URL": self.receiver_db.dsn("receiver"),
                "RECEIVER_VENDOR_DATABASE_URL": self.monitored.dsn("wedsync"),
                "RECEIVER_CONFIG": str(REPO / "receiver" / "example-policy.yml"),
                "RECEIVER_AUTH_TOKEN": TOKEN, "RECEIVER_READ_TOKEN": READ_TOKEN,
                "RECEIVER_SMS_BASE_URL": self.sms.base_url, "RECEIVER_SMS_ACCOUNT_SID": "ACbench",
                "RECEIVER_SMS_AUTH_TOKEN": "bench-sms-token", "RECEIVER_SMS_FROM": "+15005550006",
                "RECEIVER_SMTP_URL": "smtp://127.0.0.1:9",  # email fails: the SMS is the page
                "RECEIVER_PUBLIC_BASE_URL": self.url("receiver"),
                "RECEIVER_LINK_SECRET": "b" * 64}

    def _alertmanager_config(self) -> Path:
        text = (REPO / "rules" / "alertmanager.yml").read_text()
        path = self.root / "alertmanager.yml"
        path.write_text(text.replace("change-me-to-RECEIVER_AUTH_TOKEN", TOKEN)
                        .replace("http://127.0.0.1:9095/", self.url("receiver") + "/"))
        return path

    def _prometheus_config(self) -> Path:
        scrape, evaluation = shipped_intervals()
        path = self.root / "prometheus.yml"
        path.write_text(json.dumps({
            "global": {"scrape_interval": scrape, "evaluation_interval": evaluation},
            "rule_files": [str(p) for p in sorted((REPO / "rules").glob("*.rules.yml"))],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{self.ports['alertmanager']}"]}]}]},
            "scrape_configs": [{"job_name": "dbhealth", "static_configs": [
                {"targets": [f"127.0.0.1:{self.ports['exporter']}"]}]}],
        }))
        return path

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log,
                                            stderr=subprocess.STDOUT)

    # -- during a run ---------------------------------------------------------------------
    def prometheus_samples(self, expr: str, window: str = "20m") -> list[tuple[float, float]]:
        """Raw samples of a range selector, oldest first, every series together."""
        query = urllib.parse.quote(f"{expr}[{window}]")
        data = get_json(f"{self.url('prometheus')}/api/v1/query?query={query}")
        samples = [(float(t), float(v)) for series in data["data"]["result"]
                   for t, v in series["values"]]
        return sorted(samples)

    def incidents(self) -> list[dict[str, Any]]:
        found = get_json(f"{self.url('receiver')}/api/v1/incidents?limit=50", READ_TOKEN)
        return list(found["incidents"] if isinstance(found, dict) else found)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.sms.stop()
        for cluster in (self.monitored, self.receiver_db):
            if cluster.is_running():
                cluster.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
