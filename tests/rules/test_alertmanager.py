"""The example Alertmanager config: amtool accepts it, routes by severity, and a real
Alertmanager inhibits the rest while the database is down."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.alertmanager import Alertmanager, iso
from tests.support.polling import wait_until
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "rules" / "alertmanager.yml"
RULES = yaml.safe_load((REPO / "rules" / "dbhealth.rules.yml").read_text(encoding="utf-8"))
ALERT_RULES = [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]
RECEIVER_BY_SEVERITY = {"critical": "dbhealth-page", "warning": "dbhealth-ticket",
                        "info": "dbhealth-info"}


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_amtool_check_config_accepts_the_example() -> None:
    result = _amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "2 inhibit rules" in result.stdout


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text(encoding="utf-8").replace("receiver: dbhealth-info",
                                                                 "receiver: nobody"))
    assert _amtool("check-config", str(broken)).returncode != 0


@pytest.mark.parametrize("rule", ALERT_RULES,
                         ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_shipped_alert_routes_by_severity(rule: dict[str, Any]) -> None:
    labels = {"alertname": rule["alert"], **rule["labels"]}
    result = _amtool("config", "routes", "test", f"--config.file={CONFIG}",
                     *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == RECEIVER_BY_SEVERITY[rule["labels"]["severity"]]


def test_webhook_goes_to_the_receiver_with_a_bearer_token() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == "http://127.0.0.1:9095/api/v1/alerts"
        assert hook["send_resolved"] is True
        assert hook["http_config"]["authorization"]["type"] == "Bearer"


@pytest.fixture
def alertmanager() -> Iterator[Alertmanager]:
    """A real Alertmanager running the example config; its webhook points at a closed port
    so nothing on this machine receives the notifications."""
    am = Alertmanager("http://127.0.0.1:1/unused")
    text = CONFIG.read_text(encoding="utf-8").replace(
        "http://127.0.0.1:9095/api/v1/alerts", f"http://127.0.0.1:{free_port()}/api/v1/alerts")
    (am.root / "alertmanager.yml").write_text(text, encoding="utf-8")
    am.start()
    try:
        yield am
    finally:
        am.stop()


def _alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"labels": {"alertname": name, "severity": severity, "team": "database",
                       "impact": "none", "instance": "db-primary:9187", "job": "dbhealth",
                       **labels},
            "annotations": {"summary": name, "wedding_day": "false"},
            "startsAt": iso(now - timedelta(minutes=1)), "endsAt": iso(now + timedelta(hours=1))}


def _states(am: Alertmanager) -> dict[tuple[str, str], str]:
    with urllib.request.urlopen(f"{am.url}/api/v2/alerts", timeout=5) as response:
        alerts = json.loads(response.read())
    return {(a["labels"]["alertname"], a["labels"]["severity"]): a["status"]["state"]
            for a in alerts}


def test_database_down_inhibits_the_rest(alertmanager: Alertmanager) -> None:
    alertmanager.push([
        _alert("DBHealthDatabaseDown", "critical"),
        _alert("DBHealthLockWaiters", "warning"),
        _alert("DBHealthReplicationLagHigh", "critical", replica="standby-1"),
        _alert("DBHealthWeddingDaySignalMissing", "warning", team="platform"),
    ])
    expected = {("DBHealthDatabaseDown", "critical"): "active",
                ("DBHealthLockWaiters", "warning"): "suppressed",
                ("DBHealthReplicationLagHigh", "critical"): "suppressed",
                ("DBHealthWeddingDaySignalMissing", "warning"): "suppressed"}
    wait_until(lambda: _states(alertmanager) == expected, timeout=20,
               what=f"inhibition {expected}")


def test_critical_inhibits_the_warning_of_the_same_alert(alertmanager: Alertmanager) -> None:
    alertmanager.push([
        _alert("DBHealthConnectionUtilizationHigh", "warning"),
        _alert("DBHealthConnectionUtilizationHigh", "critical", impact="customer"),
        _alert("DBHealthLockWaiters", "warning"),
    ])
    expected = {("DBHealthConnectionUtilizationHigh", "warning"): "suppressed",
                ("DBHealthConnectionUtilizationHigh", "critical"): "active",
                ("DBHealthLockWaiters", "warning"): "active"}
    wait_until(lambda: _states(alertmanager) == expected, timeout=20,
               what=f"inhibition {expected}")
