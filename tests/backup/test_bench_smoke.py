"""Smoke run of the backup benchmark: ``bench/backup_bench.py --quick`` records every measurement.

No timing is asserted (performance lives in bench/, never in tests); this checks that the
harness runs end to end against real processes, and that the docs section renders.
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

from bench.backup_report import END, START, write_section

from .harness import REPO


@pytest.fixture
def cache_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dbhealth-bench-backup-"))
    os.chmod(path, 0o755)  # the cluster runs as the postgres user
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_quick_backup_bench_records_every_measurement(tmp_path: Path, cache_dir: Path) -> None:
    output = tmp_path / "backup.json"
    argv = ["bench/backup_bench.py", "--quick", "--no-docs", "--object-mib", "8", "--output", str(output),
            "--cache-dir", str(cache_dir)]
    done = subprocess.run([sys.executable, *argv],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(output.read_text())
    integrity = results["integrity"]
    assert len(integrity["ours_mib_s"]) == len(integrity["sha256sum_mib_s"]) == 1
    assert integrity["peak_rss_mib"][0] > 10
    for jobs in ("1", "2"):
        (rep,) = results["drill"]["ours"][jobs]
        assert rep["rto"] > 0 and {"download", "restore_pre_data", "checks"} <= set(rep)
        assert results["drill"]["plain"][jobs][0] > 0
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\n## Another section\n\nkept\n")
    write_section(results, doc)
    write_section(results, doc)  # replaced in place, not appended twice
    text = doc.read_text()
    assert text.count(START) == 1 and text.count(END) == 1 and "kept" in text
    assert "integrity hashing vs" in text and "| `-j 2` |" in text
