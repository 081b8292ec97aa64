"""One test's world: a production database, a scratch server, two S3 regions, the verifier."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import yaml

from backup.loader import load_settings
from backup.model import CheckOutcome
from backup.producer import Destination, Produced, dump_to_s3
from backup.runner import RunReport, run_once
from backup.settings import Settings
from settings_layers import merge

from .moto_s3 import ACCESS_KEY, SECRET_KEY, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REPO = Path(__file__).resolve().parents[2]
PRIMARY, REPLICA = "eu-west-2", "eu-west-1"
PREFIX = "wedsync/"
_drills = itertools.count()

# One fresh backup is all a test world has: the shipped policy (7 daily, 4 weekly) is
# exercised by its own test.
RELAXED_RETENTION = {"daily": 1, "weekly": 0, "min_count": 1, "max_age_days": 7}


@dataclass
class World:
    moto: MotoServer
    production_dsn: str
    scratch_dsn: str
    primary_bucket: str
    replica_bucket: str
    tmp: Path
    drill_database: str = field(default_factory=lambda: f"drill_{next(_drills)}")
    lines: list[str] = field(default_factory=list)

    def region(self, name: str, bucket: str, **extra: Any) -> dict[str, Any]:
        return {"region": name, "bucket": bucket, "prefix": PREFIX, "endpoint_url": self.moto.url,
                "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
                "addressing_style": "path", **extra}

    def config(self, **overrides: Any) -> dict[str, Any]:
        base = {
            "s3": {"primary": self.region(PRIMARY, self.primary_bucket),
                   "replica": self.region(REPLICA, self.replica_bucket),
                   "connect_timeout_seconds": 2, "max_attempts": 2},
            "production": {"url": self.production_dsn},
            "scratch": {"url": self.scratch_dsn},
            "drill": {"database": self.drill_database, "jobs": 2},
            "retention": RELAXED_RETENTION,
            "progress_interval_seconds": 0,
        }
        return merge(base, overrides)

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(environ={}, overrides=self.config(**overrides))

    def config_file(self, **overrides: Any) -> Path:
        path = self.tmp / f"verify-{len(list(self.tmp.glob('verify-*.yml')))}.yml"
        path.write_text(yaml.safe_dump(self.config(**overrides)))
        return path

    def client(self, region: str = PRIMARY) -> S3Client:
        return self.moto.client(region)

    def bucket(self, region: str = PRIMARY) -> str:
        return self.primary_bucket if region == PRIMARY else self.replica_bucket

    def produce(self, taken_at: datetime | None = None, replicate: bool = True) -> Produced:
        primary = Destination(self.client(PRIMARY), self.primary_bucket, PREFIX, PRIMARY)
        replica = Destination(self.client(REPLICA), self.replica_bucket, PREFIX, REPLICA)
        replicas = [replica] if replicate else []
        return dump_to_s3(self.production_dsn, "wedsync", primary, replicas, self.lines.append, taken_at)

    def run(self, **overrides: Any) -> RunReport:
        return run_once(self.settings(**overrides), self.lines.append)

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180,
            **overrides: Any) -> subprocess.CompletedProcess[str]:
        config = self.config_file(**overrides)
        return subprocess.run([sys.executable, "-m", "backup", "--config.file", str(config), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env={**os.environ, **(env or {})})

    def audit_rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.production_dsn) as conn:
            cur = conn.execute("SELECT * FROM backup_verification_audit WHERE %s::uuid IS NULL OR "
                               "run_id = %s::uuid ORDER BY id", (run_id, run_id))
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def put(self, key: str, body: bytes, region: str = PRIMARY, **extra: Any) -> None:
        self.client(region).put_object(Bucket=self.bucket(region), Key=key, Body=body, **extra)

    def get(self, key: str, region: str = PRIMARY) -> bytes:
        body: bytes = self.client(region).get_object(Bucket=self.bucket(region), Key=key)["Body"].read()
        return body


def by_check(report: RunReport) -> dict[str, CheckOutcome]:
    return {o.check: o for o in report.outcomes}


def statuses(report: RunReport) -> dict[str, str]:
    return {o.check: o.status.value for o in report.outcomes}


def verdicts(stdout: str) -> dict[str, str]:
    """The CLI's one line per check: ``check STATUS summary``."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1] in {"PASSED", "FAILED", "ERROR"}:
            out[parts[0]] = parts[1]
    return out


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
