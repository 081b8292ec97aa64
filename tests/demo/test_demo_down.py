"""``dbhealth-demo down`` on real processes: the WAL archive's store outlives PostgreSQL.

PostgreSQL's shutdown archives its last segments through pgBackRest into the local S3;
with S3 stopped first, the shutdown hung until pg_ctl gave up. The stand-ins here are
real processes in sessions of their own (as ``up`` starts them) that record, when they
are told to stop, whether the demo's PostgreSQL was still running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.cluster import LocalCluster

from ..support.polling import wait_until
from ..support.ports import free_port

# Writes "ready", then on SIGTERM whether postmaster.pid still exists, then exits.
STAND_IN = """
import os, signal, sys
report, pidfile = sys.argv[1], sys.argv[2]
def on_term(*_):
    with open(report, "w") as fh:
        fh.write("postgres running" if os.path.exists(pidfile) else "postgres stopped")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(report + ".ready", "w").close()
while True:
    signal.pause()
"""


@pytest.fixture
def demo_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="dbhealth-demo-down-"))
    root.chmod(0o755)  # the cluster runs as the postgres OS user when the tests run as root
    yield root
    cluster = LocalCluster(root / "pg", 0)
    if cluster.is_running():
        cluster.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


def test_down_stops_the_services_then_postgresql_then_the_archive_store(demo_root: Path) -> None:
    port = free_port()
    cluster = LocalCluster(demo_root / "pg", port)
    cluster.initdb()
    cluster.start()
    pidfile = cluster.datadir / "postmaster.pid"
    stand_ins = {}
    for name in ("exporter", "receiver", "s3", "s3-tls"):
        proc = subprocess.Popen([sys.executable, "-c", STAND_IN, str(demo_root / name), str(pidfile)],
                                start_new_session=True)
        stand_ins[name] = proc
        ready = demo_root / f"{name}.ready"
        wait_until(ready.exists, what=f"{name} stand-in ready")
    (demo_root / "pids.json").write_text(json.dumps({n: p.pid for n, p in stand_ins.items()}))

    env = {**os.environ, "DBHEALTH_DEMO_DIR": str(demo_root), "DBHEALTH_DEMO_PG_PORT": str(port)}
    done = subprocess.run([sys.executable, "-m", "demo.cli", "down"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    for proc in stand_ins.values():
        assert proc.wait(timeout=30) == 0
    reports = {name: (demo_root / name).read_text() for name in stand_ins}
    assert reports == {"exporter": "postgres running", "receiver": "postgres running",
                       "s3": "postgres stopped", "s3-tls": "postgres stopped"}
    lines = done.stdout.splitlines()
    assert lines.index("demo: stopped exporter") < lines.index(
        next(line for line in lines if line.startswith("demo: stopped PostgreSQL"))) < lines.index(
        "demo: stopped s3")
    assert not cluster.is_running()
    assert not (demo_root / "pids.json").exists()
