"""A real Prometheus server (Debian's ``prometheus``) on a free loopback port.

It is given a configuration mapping and the rule files to load, exactly like the
shipped ``deploy/prometheus/prometheus.yml``, and answers PromQL over its HTTP API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .polling import wait_until
from .ports import free_port

BINARY = "/usr/bin/prometheus"


class PrometheusServer:
    def __init__(self, config: dict[str, Any]):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dbhealth-prom-"))
        self.config_file = self.root / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = open(self.root / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [BINARY, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.logs()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(ready, timeout=60, what="prometheus to be ready")

    def logs(self) -> str:
        return (self.root / "prometheus.log").read_text(errors="replace")

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET /api/v1/<path>; the decoded JSON body, errors included (status "error")."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as err:
            body = json.loads(err.read())
        return body

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def query_range(self, expr: str, start: float, end: float, step: str) -> dict[str, Any]:
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)
