"""Audit rows → the exporter's backup collector → the shipped alerting rules (real promtool)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exporter.collectors.backup import BackupCollector
from exporter.server import Exporter
from exporter.settings import load_settings as exporter_settings

from ..rules.alert_cases import CASES, MINUTES, Fire, series
from ..rules.promtool_suite import RULES_FILE, expected, run_promtool_test
from ..support.scrape import Samples, get_json, promtool_problems, scrape
from .harness import PRIMARY, REPLICA, World

CHECKS = ("inventory", "integrity", "cross_region", "restore", "completeness", "freshness", "retention")


def humanize_duration(seconds: int) -> str:
    """Prometheus' humanizeDuration for whole seconds of a minute or more."""
    days, hours, minutes, secs = seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60, seconds % 60
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


@pytest.fixture
def exporter_for(world: World) -> Iterator[str]:
    settings = exporter_settings(environ={}, overrides={
        "database": {"url": world.production_dsn},
        "web": {"listen_address": "127.0.0.1:0", "rate_limit_per_minute": 0},
        "audit": {"enabled": False},
        "cache": {"l1_ttl_seconds": 0, "l2_ttl_seconds": 0, "error_ttl_seconds": 0},
        "collectors": {"statements": False}})
    exporter = Exporter(settings)
    exporter.start()
    url = f"http://127.0.0.1:{exporter.port}"
    scrape(url)  # the collector's first scrape only looks for the table
    yield url
    exporter.stop()


def test_collector_turns_rows_into_metrics_without_a_database() -> None:
    rows: list[tuple[object, ...]] = [
        ("success", "integrity", "logical", 0.0), ("success", "restore", "logical", 1.0),
        ("findings", "integrity", "logical", 2.0), ("verified", PRIMARY, "logical", 1.7e9),
        ("verified", REPLICA, "logical", None), ("size", PRIMARY, "logical", 1234.0),
        ("backups", PRIMARY, "logical", 3.0), ("restore", None, None, 42.5),
        ("phase", "download", None, 1.5), ("last_run", None, None, None),
        ("success", "wal", "physical", 1.0), ("wal_missing", PRIMARY, "physical", 2.0),
        ("window", PRIMARY, "physical", 3600.0), ("rpo", PRIMARY, "physical", 12.0)]
    families = {f.name: f for f in BackupCollector()._families(rows)}
    values = {(f.name, tuple(s.labels.values())): s.value for f in families.values() for s in f.samples}
    assert values[("dbhealth_backup_verification_success", ("integrity", "logical"))] == 0
    assert values[("dbhealth_backup_verification_success", ("wal", "physical"))] == 1
    assert values[("dbhealth_backup_last_success_timestamp_seconds", ("logical", REPLICA))] == 0  # none
    assert values[("dbhealth_backup_wal_segments_missing", ("physical", PRIMARY))] == 2
    assert values[("dbhealth_backup_recovery_window_seconds", ("physical", PRIMARY))] == 3600
    assert values[("dbhealth_backup_rpo_seconds", ("physical", PRIMARY))] == 12
    assert values[("dbhealth_backup_restore_duration_seconds", ())] == 42.5
    assert values[("dbhealth_backup_last_verification_timestamp_seconds", ())] == 0  # never
    no_drill = {f.name for f in BackupCollector()._families([("last_run", None, None, 5.0)])}
    assert "dbhealth_backup_restore_duration_seconds" not in no_drill


def test_verified_then_corrupted_shows_on_the_next_scrape(world: World, exporter_for: str) -> None:
    produced = world.produce()
    assert world.run().exit_code == 0
    samples = scrape(exporter_for)
    assert promtool_problems(samples.text) == []
    for check in CHECKS:
        assert samples.value("dbhealth_backup_verification_success", check=check) == 1, check
    for region in (PRIMARY, REPLICA):
        assert samples.value("dbhealth_backup_last_success_timestamp_seconds",
                             region=region) == produced.taken_at.replace(microsecond=0).timestamp()
        assert samples.value("dbhealth_backup_size_bytes", region=region) == produced.size
    assert (samples.value("dbhealth_backup_restore_duration_seconds") or 0) > 0
    assert (samples.value("dbhealth_backup_restore_phase_seconds", phase="restore_data") or 0) > 0
    assert samples.value("dbhealth_collector_success", collector="backup") == 1
    status, health = get_json(exporter_for + "/health/full")
    assert status == 200 and health["metrics"]["dbhealth_backup_verified"] == 1

    data = bytearray(world.get(produced.key))
    data[-100] ^= 0x40
    world.put(produced.key, bytes(data))
    result = world.cli("--check", "integrity")
    assert result.returncode == 1, result.stdout
    after = scrape(exporter_for)
    assert after.value("dbhealth_backup_verification_success", check="integrity") == 0
    assert after.value("dbhealth_backup_verification_findings", check="integrity") == 1
    assert after.value("dbhealth_backup_verification_success", check="restore") == 1  # older run's verdict
    assert get_json(exporter_for + "/health/full")[1]["metrics"]["dbhealth_backup_verified"] == 0
    _assert_alert(after, "DBHealthBackupVerificationFailed", Path(world.tmp), fires=True)


def test_stale_backup_fires_backup_stale_and_a_fresh_one_resolves_it(world: World, exporter_for: str) -> None:
    world.produce(taken_at=datetime.now(UTC) - timedelta(days=2))
    stale = world.run(checks=["integrity", "freshness"])
    assert stale.exit_code == 1
    _assert_alert(scrape(exporter_for), "DBHealthBackupStale", Path(world.tmp), fires=True)
    world.produce()
    assert world.run(checks=["integrity", "freshness"]).exit_code == 0
    _assert_alert(scrape(exporter_for), "DBHealthBackupStale", Path(world.tmp), fires=False)


def _assert_alert(samples: Samples, alert: str, tmp: Path, *, fires: bool) -> None:
    """promtool evaluates the shipped rules on the scraped values, held for an hour."""
    now = time.time()
    case = next(c for c in CASES if c.alert == alert)
    inputs = {series("dbhealth_wedding_day_mode"): f"0x{MINUTES}"}
    exp: list[dict[str, object]] = []
    if alert == "DBHealthBackupStale":
        ts = samples.value("dbhealth_backup_last_success_timestamp_seconds", region=PRIMARY)
        assert ts is not None
        # promtool's clock starts at 0: keep the age the exporter showed, in whole seconds
        offset = -round(now - ts)
        name = series("dbhealth_backup_last_success_timestamp_seconds", region=PRIMARY)
        inputs[name] = f"{offset}x{MINUTES}"
        if fires:
            exp = [expected(case, Fire("critical", "1d 2h 0m 0s"), humanize_duration(1800 - offset), False)]
    else:
        value = samples.value("dbhealth_backup_verification_success", check="integrity")
        inputs[series("dbhealth_backup_verification_success", check="integrity")] = f"{value:g}x{MINUTES}"
        if fires:
            exp = [expected(case, Fire("critical", "1"), f"{value:g}", False)]
    doc = {"rule_files": [str(RULES_FILE)], "evaluation_interval": "30s", "tests": [{
        "interval": "1m", "input_series": [{"series": k, "values": v} for k, v in inputs.items()],
        "alert_rule_test": [{"eval_time": "30m", "alertname": alert, "exp_alerts": exp}]}]}
    result = run_promtool_test(doc, tmp, f"{alert}-{fires}")
    assert result.returncode == 0, result.stdout + result.stderr
