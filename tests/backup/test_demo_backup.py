"""``dbhealth-demo backup`` and the demo's verifier configuration, against the test servers."""

from __future__ import annotations

import subprocess
import sys

import yaml

from demo import backups

from ..support.postgres import PostgresServer
from .harness import REPO, World, verdicts


def test_demo_backup_then_the_demo_verifier_config_verifies(world: World, pg_server: PostgresServer) -> None:
    made = subprocess.run([sys.executable, "-m", "demo.cli", "--dsn", world.production_dsn, "backup",
                           "--s3-endpoint", world.moto.url], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "demo: backup wedsync/wedsync_b" in made.stdout  # named after the database
    for role, region in backups.REGIONS.items():
        keys = [o["Key"] for o in world.moto.client(region).list_objects_v2(
            Bucket=backups.bucket(role))["Contents"]]
        assert len(keys) == 2 and keys[1] == keys[0] + ".sha256"
    config = world.tmp / "demo-verify.yml"
    settings = backups.verifier_config(world.production_dsn, pg_server, world.moto.url)
    config.write_text(yaml.safe_dump(settings))
    result = subprocess.run([sys.executable, "-m", "backup", "--config.file", str(config)],
                            capture_output=True, text=True, cwd=REPO, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(verdicts(result.stdout).values()) == {"PASSED"} and len(verdicts(result.stdout)) == 7


def test_demo_backup_reports_an_unreachable_s3(world: World) -> None:
    failed = subprocess.run([sys.executable, "-m", "demo.cli", "--dsn", world.production_dsn, "backup",
                             "--s3-endpoint", "http://127.0.0.1:1"], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert failed.returncode == 2 and "demo: backup failed: EndpointConnectionError" in failed.stderr
