"""The backup profile's nightly jobs: deploy/compose/every.sh run for real, and how compose uses it.

Without them a long-running stack's backups age past the verifier's freshness limit after
a day and the verifier (rightly) reports them stale.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..support.polling import wait_until
from .test_compose import REPO, config

EVERY = REPO / "deploy/compose/every.sh"
SCRIPT_IN_CONTAINER = "/usr/local/bin/dbhealth-every"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    parsed: dict[str, Any] = config("backup")["services"]
    return parsed


def start(tmp_path: Path, command: str, every: int = 1, **env: str) -> tuple[subprocess.Popen[str], Path]:
    heartbeat = tmp_path / "job.ok"
    proc = subprocess.Popen(["sh", str(EVERY), str(every), str(heartbeat), "sh", "-c", command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RETRY_SECONDS": "1", **env})
    return proc, heartbeat


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)   # the trap ends it at once, even mid-sleep
    return proc.returncode, out, err


def test_every_runs_the_command_after_each_interval_and_touches_the_heartbeat(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc, heartbeat = start(tmp_path, f"echo run >> {runs}")
    wait_until(heartbeat.exists, what="the heartbeat at start")
    assert not runs.exists()   # the first run waits an interval: the one-shot took the first backup
    at_start = heartbeat.stat().st_mtime_ns
    # A third run has started only after the second one's success was logged (a SIGTERM
    # right after the second run's command could otherwise come before that line).
    wait_until(lambda: runs.exists() and len(runs.read_text().splitlines()) >= 3, timeout=30,
               what="three runs")
    code, out, _ = stop(proc)
    assert code == 0 and "every.sh: stopped" in out
    assert out.count("every.sh: sh succeeded") >= 2
    assert heartbeat.stat().st_mtime_ns > at_start


def test_a_failing_run_is_retried_and_leaves_the_heartbeat_alone(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    proc, heartbeat = start(tmp_path, f"echo x >> {attempts}; exit 3", every=3600, FIRST_SECONDS="0")
    wait_until(heartbeat.exists, what="the heartbeat at start")
    at_start = heartbeat.stat().st_mtime_ns
    # The interval is an hour: only the retries (RETRY_SECONDS=1) can make a second attempt.
    wait_until(lambda: attempts.exists() and len(attempts.read_text().splitlines()) >= 2, timeout=30,
               what="a retry after the failure")
    code, out, err = stop(proc)
    assert code == 0 and "failed with exit 3" in err and "succeeded" not in out
    assert heartbeat.stat().st_mtime_ns == at_start   # only a success moves it


@pytest.mark.parametrize("args", [["1"], ["x", "hb", "true"], ["1", "hb"]])
def test_every_refuses_a_bad_command_line(tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run(["sh", str(EVERY), *args], capture_output=True, text=True, timeout=10,
                          cwd=tmp_path)
    assert done.returncode != 0 and "every.sh" in done.stderr


@pytest.mark.parametrize("weekday", ["sunday", "0", "8", "7; rm -rf /"])
def test_pgbackrest_init_refuses_a_full_weekday_it_could_never_meet(tmp_path: Path,
                                                                    weekday: str) -> None:
    marker = tmp_path / "stanza-ready"
    env = {**os.environ, "PGBACKREST_FULL_WEEKDAY": weekday, "DBHEALTH_ARCHIVE_MARKER": str(marker)}
    done = subprocess.run(["sh", str(REPO / "deploy/postgres/pgbackrest-init.sh")], env=env,
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "PGBACKREST_FULL_WEEKDAY must be 1-7" in done.stderr
    assert not marker.exists()  # refused before any work


def test_the_nightly_jobs_rerun_what_the_one_shots_ran_first(services: dict[str, Any]) -> None:
    init, nightly = services["pgbackrest-init"], services["pgbackrest-backup"]
    assert nightly["entrypoint"][:4] == ["/bin/sh", SCRIPT_IN_CONTAINER, "86400",
                                         "/tmp/pgbackrest-backup.ok"]
    assert nightly["entrypoint"][4:] == init["entrypoint"]      # the same idempotent script
    assert nightly["environment"] == init["environment"] and nightly["user"] == init["user"]
    assert nightly["volumes"][:-1] == init["volumes"]             # plus every.sh itself
    assert nightly["depends_on"]["pgbackrest-init"]["condition"] == "service_completed_successfully"

    logical, nightly_logical = services["backup"], services["backup-nightly"]
    assert nightly_logical["command"][4:] == logical["command"]
    assert nightly_logical["depends_on"]["backup"]["condition"] == "service_completed_successfully"
    for job in (nightly, nightly_logical):
        [every] = [v for v in job["volumes"] if v["target"] == SCRIPT_IN_CONTAINER]
        assert Path(every["source"]) == EVERY and every["read_only"]
        heartbeat = (job.get("entrypoint") or job["command"])[3]
        assert job["healthcheck"]["test"][0] == "CMD-SHELL" and "-mmin -1500" in job["healthcheck"]["test"][1]
        assert heartbeat.startswith("/tmp/") and heartbeat.endswith(".ok")
