"""Starting the exporters under test: ours (``python -m exporter``) and Debian's postgres_exporter 0.11."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .dataset import DBNAME, OURS_ROLE, RIVAL_ROLE, free_port
from .measure import wait_until_serving

REPO = Path(__file__).resolve().parent.parent
RIVAL_BIN = Path("/usr/bin/prometheus-postgres-exporter")
RIVAL_QUERIES = Path(__file__).resolve().parent / "rival_queries"

FRESH_ENV = {
    "DBHEALTH_CACHE__L1_TTL_SECONDS": "0",
    "DBHEALTH_CACHE__L2_TTL_SECONDS": "0",
    "DBHEALTH_CACHE__L2_WEDDING_DAY_TTL_SECONDS": "0",
    "DBHEALTH_CACHE__ERROR_TTL_SECONDS": "0",
}


@dataclass
class ExporterSpec:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ours: bool = False
    cwd: Path = REPO  # `python -m exporter` imports the exporter of this source tree


def ours(key: str, label: str, pg_port: int, extra_env: dict[str, str] | None = None,
         source: Path = REPO) -> ExporterSpec:
    """Our exporter; ``source`` may be another checkout (a baseline) run with the same venv."""
    dsn = f"postgresql://{OURS_ROLE}@127.0.0.1:{pg_port}/{DBNAME}"
    return ExporterSpec(key, label, [sys.executable, "-m", "exporter", "--database.url", dsn,
                                     "--log.level", "warning"],
                        env=dict(extra_env or {}), ours=True, cwd=source)


def rival(key: str, label: str, pg_port: int, queries: str | None = None) -> ExporterSpec:
    argv = [str(RIVAL_BIN), "--log.level", "warn"]
    if queries:
        argv += ["--extend.query-path", str(RIVAL_QUERIES / queries)]
    dsn = f"postgresql://{RIVAL_ROLE}@127.0.0.1:{pg_port}/{DBNAME}?sslmode=disable"
    return ExporterSpec(key, label, argv, env={"DATA_SOURCE_NAME": dsn})


def rival_version() -> str:
    if not RIVAL_BIN.exists():
        return "not installed"
    out = subprocess.run([str(RIVAL_BIN), "--version"], capture_output=True, text=True, timeout=10)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


class Running:
    """One exporter process on a free port; output goes to a log file kept for the report."""

    def __init__(self, spec: ExporterSpec, log_dir: Path):
        self.spec = spec
        self.port = free_port()
        self.log_path = log_dir / f"{spec.key}.log"
        argv = [*spec.argv, "--web.listen-address", f"127.0.0.1:{self.port}"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DBHEALTH_") and k != "DATA_SOURCE_NAME"}
        env.update(spec.env)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=spec.cwd, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Running:
        try:
            wait_until_serving(self.port, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    def log_tail(self, lines: int = 20) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []
