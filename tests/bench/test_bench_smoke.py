"""Smoke run of the benchmark: `bench/run.py --quick --no-rival` produces a complete results JSON.

No timing is asserted (performance lives in bench/, never in tests); this only checks that
the harness runs end to end against real processes and records every measurement.
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

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache_dir() -> Iterator[Path]:
    # Not tmp_path: its parents are private to root, and the cluster runs as the postgres user.
    path = Path(tempfile.mkdtemp(prefix="dbhealth-bench-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_quick_run_records_every_measurement(tmp_path: Path, cache_dir: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--no-rival", "--output", str(output),
         "--cache-dir", str(cache_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(output.read_text())

    assert set(results["exporters"]) == {"ours_fresh", "ours_cached", "ours_burst"}
    fresh = results["exporters"]["ours_fresh"]
    assert fresh["fresh"]["n"] == results["scale"]["fresh_scrapes"]
    assert fresh["status"] == 200
    assert fresh["samples"] > 100
    # One statement per enabled collector, counted by PostgreSQL and by the exporter itself.
    assert fresh["statements_per_scrape_pg_stat_statements"] == fresh["statements_per_scrape_self_reported"]
    assert fresh["statements_per_scrape_self_reported"] == len(fresh["collector_duration_ms"])
    assert fresh["rss_steady_mib"] > 0
    assert fresh["burst"]["ok"] == results["scale"]["burst"]

    cached = results["exporters"]["ours_cached"]
    assert cached["statements_while_cached"] == 0
    assert cached["burst_warm"]["collections"] == 0
    assert results["exporters"]["ours_burst"]["burst_expired"]["collections"] >= 1
    assert results["dataset"]["user_tables"] > 8
    assert results["dataset"]["client_connections"] >= results["scale"]["held_idle"]
