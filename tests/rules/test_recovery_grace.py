"""The recovery grace (issue 12): the reconnect storm after an outage is no second page.

The generator's output as plain values, its validation, and promtool judging the
committed tests (``recovery_cases.py``) against the shipped rules, and against the
same rules without the grace, where they must fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rulegen.index import render_index
from rulegen.model import ThresholdFileError, parse
from rulegen.render import render_rules

from .promtool_suite import COMMITTED, REPO, run_promtool, run_promtool_test
from .recovery_cases import ALERT, FILE_NAME, recovery_doc

GRACED = ("connection_utilization_warning", "connection_utilization_critical")
RECORD_EXPR = ('max by (job, instance) (max_over_time(ALERTS{alertname="DBHealthDatabaseDown",'
               'alertstate="firing"}[5m]))')


def _raw() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "rules" / "thresholds.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _rules(raw: dict[str, Any]) -> list[dict[str, Any]]:
    groups = yaml.safe_load(render_rules(parse(raw)))["groups"]
    assert len(groups) == 1, "the grace reads this group's own ALERTS: keep one group"
    rules: list[dict[str, Any]] = groups[0]["rules"]
    return rules


def _alert_exprs(raw: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["alert"], r["labels"]["severity"]): r["expr"] for r in _rules(raw) if "alert" in r}


def _threshold(raw: dict[str, Any], ident: str) -> dict[str, Any]:
    found = next(t for t in raw["thresholds"] if t["id"] == ident)
    assert isinstance(found, dict)
    return found


def test_the_grace_is_recorded_once_before_the_alerts() -> None:
    rules = _rules(_raw())
    records = [r["record"] for r in rules if "record" in r]
    assert records.count("dbhealth:database_recovering") == 1
    position = next(i for i, r in enumerate(rules) if r.get("record") == "dbhealth:database_recovering")
    first_alert = next(i for i, r in enumerate(rules) if "alert" in r)
    assert position < first_alert
    assert rules[position]["expr"] == RECORD_EXPR


def test_only_connection_utilization_waits_for_the_recovery() -> None:
    exprs = _alert_exprs(_raw())
    assert exprs["DBHealthConnectionUtilizationHigh", "warning"] == (
        "(dbhealth_connection_utilization_ratio > on() group_left() "
        "dbhealth:threshold:connection_utilization_warning) "
        "unless on(job, instance) dbhealth:database_recovering")
    assert exprs["DBHealthConnectionUtilizationHigh", "critical"] == (
        "(dbhealth_connection_utilization_ratio > on() group_left() "
        "dbhealth:threshold:connection_utilization_critical) "
        "unless on(job, instance) dbhealth:database_recovering")
    others = [key for key, expr in exprs.items()
              if "database_recovering" in expr and key[0] != "DBHealthConnectionUtilizationHigh"]
    assert others == []
    assert exprs["DBHealthDatabaseDown", "critical"] == (
        "dbhealth_up < on() group_left() dbhealth:threshold:database_down")


def test_window_and_join_labels_come_from_the_block() -> None:
    raw = _raw()
    raw["recovery_grace"].update(window="10m", join_labels=["cluster", "instance"])
    rules = _rules(raw)
    record = next(r for r in rules if r.get("record") == "dbhealth:database_recovering")
    assert record["expr"] == RECORD_EXPR.replace("job, instance", "cluster, instance").replace(
        "[5m]", "[10m]")
    assert _alert_exprs(raw)["DBHealthConnectionUtilizationHigh", "critical"].endswith(
        "unless on(cluster, instance) dbhealth:database_recovering")


def test_block_defaults() -> None:
    raw = _raw()
    raw["recovery_grace"] = {"why": "defaults"}
    grace = parse(raw).recovery_grace
    assert grace is not None
    assert (grace.record, grace.alert, grace.window, grace.join_labels) == (
        "dbhealth:database_recovering", "DBHealthDatabaseDown", "5m", ["job", "instance"])


def test_without_the_flag_the_expression_is_the_plain_comparison() -> None:
    raw = _raw()
    for ident in GRACED:
        del _threshold(raw, ident)["recovery_grace"]
    del raw["recovery_grace"]
    assert _alert_exprs(raw)["DBHealthConnectionUtilizationHigh", "critical"] == (
        "dbhealth_connection_utilization_ratio > on() group_left() "
        "dbhealth:threshold:connection_utilization_critical")
    assert not any(r.get("record") == "dbhealth:database_recovering" for r in _rules(raw))


def test_the_index_says_so() -> None:
    rows = [line for line in render_index(parse(_raw())).splitlines()
            if "database_recovering" in line or "5m after" in line]
    assert len(rows) == 2 and all("DBHealthConnectionUtilizationHigh" in row for row in rows)
    assert "silent while DBHealthDatabaseDown fires and 5m after" in rows[0]


def _invalid(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ThresholdFileError) as err:
        parse(raw)
    assert message in str(err.value)


def test_validation() -> None:
    raw = _raw()
    del raw["recovery_grace"]
    _invalid(raw, "recovery_grace: true needs a recovery_grace block (thresholds: "
                  "connection_utilization_warning, connection_utilization_critical)")
    raw = _raw()
    raw["recovery_grace"]["alert"] = "DBHealthDatabaseGone"
    _invalid(raw, "recovery_grace.alert DBHealthDatabaseGone is not a threshold's alert")
    raw = _raw()
    _threshold(raw, "database_down")["recovery_grace"] = True
    _invalid(raw, "DBHealthDatabaseDown cannot wait for its own recovery")
    raw = _raw()
    raw["recovery_grace"]["record"] = "dbhealth:wedding_day_mode"
    _invalid(raw, "recovery_grace.record dbhealth:wedding_day_mode is recorded already")
    raw = _raw()
    raw["recovery_grace"]["window"] = "five minutes"
    _invalid(raw, "recovery_grace.window")
    raw = _raw()
    raw["recovery_grace"]["join_labels"] = ["instance", "instance"]
    _invalid(raw, "recovery_grace.join_labels must be unique")
    raw = _raw()
    raw["recovery_grace"]["join_labels"] = []
    _invalid(raw, "recovery_grace.join_labels")


def test_the_committed_recovery_tests_pass() -> None:
    result = run_promtool(COMMITTED / FILE_NAME)
    assert result.returncode == 0, result.stdout + result.stderr


def _run_against(raw: dict[str, Any], tmp_path: Path) -> str:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(render_rules(parse(raw)), encoding="utf-8")
    result = run_promtool_test(recovery_doc(str(rules_file)), tmp_path, "recovery")
    assert result.returncode != 0, "the recovery tests pass without the grace"
    return result.stdout + result.stderr


def test_without_the_grace_the_storm_pages_again(tmp_path: Path) -> None:
    """The tests can fail: the same rules without the `unless` clause page at 22m30s, two and
    a half minutes after the recovery (the critical's `for: 2m`), in both modes."""
    raw = _raw()
    for ident in GRACED:
        _threshold(raw, ident)["recovery_grace"] = False
    failures = _failures(_run_against(raw, tmp_path))
    for mode, text in ((0, "95%"), (1, "55%")):
        storm = failures[f"{ALERT} mode={mode} reconnect storm at {text} for 3 min after an outage: "
                         "no second page"]
        assert [(time, got.count('severity="critical"')) for time, got in storm] == [
            ("22m30s", 1)], storm
    assert not [name for name in failures if "another target" in name]  # judged as usual


def _failures(out: str) -> dict[str, list[tuple[str, str]]]:
    """promtool's report: test name -> [(eval time, what it got)] per failed check."""
    found: dict[str, list[tuple[str, str]]] = {}
    for block in re.split(r"^ *name: ", out, flags=re.MULTILINE)[1:]:
        name, rest = block.split(",\n", 1)
        time = re.search(r"time: (\S+),", rest)
        found.setdefault(name, []).append((time.group(1) if time else "", rest.split("got:")[-1]))
    return found


def test_the_grace_is_per_target(tmp_path: Path) -> None:
    """Joined on job alone, another exporter's outage would silence this target too."""
    raw = _raw()
    raw["recovery_grace"]["join_labels"] = ["job"]
    out = _run_against(raw, tmp_path)
    assert "mode=0 saturation at 95% while another target's database is down" in out
    assert "mode=1 saturation at 55% while another target's database is down" in out
