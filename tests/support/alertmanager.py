"""A real Alertmanager process (Debian's prometheus-alertmanager) on a free loopback port.

Clustering is disabled, so two instances fed the same alerts behave like an HA
pair whose gossip failed: both deliver, and the receiver must deduplicate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .ports import free_port

BINARY = "/usr/bin/prometheus-alertmanager"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Alertmanager:
    def __init__(self, webhook_url: str, *, bearer: str | None = None,
                 group_interval: str = "1s"):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dbhealth-am-"))
        http_config: dict[str, Any] = {}
        if bearer:
            http_config["authorization"] = {"type": "Bearer", "credentials": bearer}
        config = {
            "route": {"receiver": "dbhealth", "group_by": ["..."], "group_wait": "100ms",
                      "group_interval": group_interval, "repeat_interval": "1h"},
            "receivers": [{"name": "dbhealth", "webhook_configs": [
                {"url": webhook_url, "send_resolved": True, "http_config": http_config}]}],
        }
        (self.root / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = open(self.root / "alertmanager.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [BINARY, f"--config.file={self.root / 'alertmanager.yml'}",
             f"--storage.path={self.root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=debug"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alertmanager did not start: {self.logs()[-2000:]}")
            time.sleep(0.05)

    def logs(self) -> str:
        return (self.root / "alertmanager.log").read_text(errors="replace")

    def push(self, alerts: list[dict[str, Any]]) -> None:
        """POST alerts to the API v2, as Prometheus does."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def metric(self, name: str) -> float:
        """Sum of all samples of ``name`` on the /metrics page."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)
