"""Settings and runs of the verifier against the pgBackRest repository fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from backup.loader import load_settings
from backup.runner import RunReport, run_once
from settings_layers import merge

from .harness import REPO
from .pgbackrest_repo import STANZA, Repo

REPLICA_REGION = "eu-west-1"


def config(repo: Repo, scratch_dsn: str, bucket: str | None = None, replica: str | None = None,
           **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "pgbackrest": {"stanza": STANZA, "parallel": 4,
                       "repo": {"primary": repo.settings_region(bucket or repo.bucket),
                                "connect_timeout_seconds": 2, "max_attempts": 2}},
        "production": {"url": repo.server.dsn()},
        "scratch": {"url": scratch_dsn},
        "completeness": {"tables": [{"name": "public.marks", "created_column": "created_at"}],
                         "orphans": {}, "tolerance_ratio": 0, "tolerance_rows": 0},
        "cross_region": {"replication_grace_seconds": 0},
        "progress_interval_seconds": 0,
    }
    if replica is not None:
        base["pgbackrest"]["repo"]["replica"] = repo.settings_region(replica, REPLICA_REGION)
    return merge(base, overrides)


def run(repo: Repo, scratch_dsn: str, lines: list[str] | None = None, **kwargs: Any) -> RunReport:
    settings = load_settings(environ={}, overrides=config(repo, scratch_dsn, **kwargs))
    return run_once(settings, (lines if lines is not None else []).append)


def cli(repo: Repo, scratch_dsn: str, tmp: Path, env: dict[str, str] | None = None,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    path = tmp / "verify.yml"
    path.write_text(yaml.safe_dump(config(repo, scratch_dsn, **kwargs), default_flow_style=False))
    return subprocess.run([sys.executable, "-m", "backup", "--config.file", str(path)], capture_output=True,
                          text=True, timeout=600, cwd=REPO, env={**os.environ, **(env or {})})


def outcome(report: RunReport, check: str, kind: str = "physical") -> Any:
    return next(o for o in report.outcomes if o.check == check and o.kind == kind)
