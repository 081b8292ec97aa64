"""The receiver's processes for end-to-end tests: gunicorn (via the real CLI) and the worker.

Both run as ``python -m`` subprocesses from the repository root with the
``RECEIVER_*`` environment the tests build, exactly as an operator would run them.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .polling import wait_until
from .ports import free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"

ALICE = {"name": "alice", "phone": "+447700900001", "email": "alice@wedsync.example"}
BOB = {"name": "bob", "phone": "+447700900002", "email": "bob@wedsync.example"}
CAROL = {"name": "carol", "phone": "+447700900003", "email": "carol@wedsync.example"}


def make_policy(**overrides: Any) -> dict[str, Any]:
    """A policy with second-scale delays: tier 2 after 4 s (2 s on a wedding day)."""
    policy: dict[str, Any] = {
        "timezone": "UTC",
        "peak_hours": {"start": "00:00", "end": "23:59:59"},
        "contacts": [ALICE, BOB, CAROL],
        "tiers": [
            {"name": "on-call", "after_seconds": 0, "contacts": ["alice"]},
            {"name": "secondary", "after_seconds": 4, "contacts": ["bob"]},
            {"name": "emergency", "after_seconds": 600, "contacts": ["carol"]},
        ],
        "levels": {"emergency": {"tiers": 3, "channels": ["sms", "email"]},
                   "critical": {"tiers": 3, "channels": ["sms", "email"]}},
        "delivery": {"retry_base_seconds": 0.2, "retry_max_seconds": 1.0,
                     "max_age_seconds": 600, "send_timeout_seconds": 3},
        "vendors": {"rate_limit_seconds": 3600},
    }
    policy.update(overrides)
    return copy.deepcopy(policy)  # callers mutate it; the shared contacts must stay intact


def write_policy(policy: dict[str, Any], directory: Path | None = None) -> str:
    directory = directory or Path(tempfile.mkdtemp(prefix="dbhealth-policy-"))
    path = directory / "policy.yml"
    path.write_text(yaml.safe_dump(policy))
    return str(path)


def receiver_env(database_url: str, policy_path: str, *, sms_base_url: str = "http://127.0.0.1:9",
                 smtp_url: str = "smtp://127.0.0.1:9", **extra: str) -> dict[str, str]:
    env = {
        "RECEIVER_DATABASE_URL": database_url,
        "RECEIVER_CONFIG": policy_path,
        "RECEIVER_AUTH_TOKEN": TOKEN,
        "RECEIVER_BASIC_AUTH_USER": "alertmanager",
        "RECEIVER_BASIC_AUTH_PASSWORD": "basic-secret",
        "RECEIVER_SMS_BASE_URL": sms_base_url,
        "RECEIVER_SMS_ACCOUNT_SID": "ACtest",
        "RECEIVER_SMS_AUTH_TOKEN": "sms-secret",
        "RECEIVER_SMS_FROM": "+15005550006",
        "RECEIVER_SMTP_URL": smtp_url,
        "RECEIVER_WORKER_POLL_SECONDS": "0.1",
        "RECEIVER_DATABASE_TIMEOUT_SECONDS": "2",
    }
    env.update(extra)
    return env


class _Process:
    argv: list[str]

    def __init__(self, env: dict[str, str]):
        self.env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
        self.logfile = Path(tempfile.mkstemp(prefix="dbhealth-receiver-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.logfile, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def logs(self) -> str:
        return self.logfile.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self._log.close()


class Gunicorn(_Process):
    """``dbhealth-receiver --bind 127.0.0.1:<free>`` (gunicorn underneath)."""

    def __init__(self, env: dict[str, str], workers: int = 2):
        super().__init__(env)
        self.port = free_port()
        self.argv = [sys.executable, "-m", "receiver", "--bind", f"127.0.0.1:{self.port}",
                     "--workers", str(workers)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.logs()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    status: int = response.status
                    return status == 200
            except OSError:
                return False

        wait_until(healthy, timeout=30, what="gunicorn to answer /healthz")

    def spawn(self) -> None:
        """Start the process without waiting for it to answer (to start several at once,
        or to watch one that should refuse to boot)."""
        _Process.start(self)

    def answers_healthz(self) -> bool:
        """Whether /healthz answers 200 right now."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False


class Worker(_Process):
    """``dbhealth-receiver-worker``."""

    def __init__(self, env: dict[str, str]):
        super().__init__(env)
        self.argv = [sys.executable, "-m", "receiver.worker"]
