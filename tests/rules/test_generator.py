"""dbhealth-rules: the threshold maths, validation messages, and the drift check."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rulegen.cli import INDEX, RULES, THRESHOLDS
from rulegen.model import Direction, Scaling, ThresholdFileError, load, parse
from rulegen.render import render_rules
from rulegen.strictness import threshold_in_force

REPO = Path(__file__).resolve().parents[2]


def _raw() -> dict[str, Any]:
    data = yaml.safe_load((REPO / THRESHOLDS).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _threshold(raw: dict[str, Any], ident: str) -> dict[str, Any]:
    found = next(t for t in raw["thresholds"] if t["id"] == ident)
    assert isinstance(found, dict)
    return found


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rulegen", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("normal", "direction", "wedding"), [
    (0.80, Direction.HIGHER_IS_WORSE, 0.40),
    (500, Direction.HIGHER_IS_WORSE, 250),
    (30, Direction.HIGHER_IS_WORSE, 15),
    (0.95, Direction.LOWER_IS_WORSE, 0.975),
    (0.98, Direction.LOWER_IS_WORSE, 0.99),
])
def test_wedding_day_is_fifty_percent_stricter(normal: float, direction: Direction,
                                               wedding: float) -> None:
    assert threshold_in_force(normal, direction, Scaling.STRICTER, 0) == pytest.approx(normal)
    assert threshold_in_force(normal, direction, Scaling.STRICTER, 1) == pytest.approx(wedding)


def test_fixed_thresholds_ignore_the_mode() -> None:
    for mode in (0, 1):
        assert threshold_in_force(3600, Direction.HIGHER_IS_WORSE, Scaling.FIXED, mode) == 3600


def test_recording_rules_come_first_and_carry_the_formula() -> None:
    rules = yaml.safe_load(render_rules(parse(_raw())))["groups"][0]["rules"]
    kinds = ["record" if "record" in r else "alert" for r in rules]
    assert kinds == sorted(kinds, key=lambda k: k != "record"), "a recording rule after an alert"
    by_record = {r["record"]: r["expr"] for r in rules if "record" in r}
    assert by_record["dbhealth:wedding_day_mode"] == (
        "max(dbhealth_wedding_day_mode) or on() vector(1)")
    assert by_record["dbhealth:threshold:connection_utilization_warning"] == (
        "0.8 * (1 - 0.5 * dbhealth:wedding_day_mode)")
    assert by_record["dbhealth:threshold:cache_hit_ratio"] == (
        "1 - (1 - 0.95) * (1 - 0.5 * dbhealth:wedding_day_mode)")
    assert by_record["dbhealth:threshold:restore_drill_slow"] == "vector(3600)"


def test_mode_never_becomes_a_label() -> None:
    rules = yaml.safe_load(render_rules(parse(_raw())))["groups"][0]["rules"]
    for rule in (r for r in rules if "alert" in r):
        assert rule["alert"].startswith("DBHealth")
        assert set(rule["labels"]) == {"severity", "team", "impact"}, rule["alert"]
        assert {"summary", "description", "runbook_url", "wedding_day"} <= set(
            rule["annotations"]), rule["alert"]


def test_rendering_is_deterministic() -> None:
    assert render_rules(parse(_raw())) == render_rules(parse(copy.deepcopy(_raw())))


@pytest.mark.parametrize(("ident", "key", "value", "message"), [
    ("connection_utilization_warning", "normal", "high",
     "thresholds[2](connection_utilization_warning).normal"),
    ("cache_hit_ratio", "normal", 5, "must be a ratio in [0, 1]"),
    ("replication_lag", "severity", "page", "thresholds[10](replication_lag).severity"),
    ("deadlocks", "for", "five minutes", "thresholds[7](deadlocks).for"),
    ("lock_waiters", "alert", "LockWaiters", "thresholds[6](lock_waiters).alert"),
    ("slow_queries", "direction", "up", "thresholds[11](slow_queries).direction"),
    ("slow_queries", "colour", "red", "thresholds[11](slow_queries).colour"),
    ("backup_stale", "fixed_reason", None, "needs a fixed_reason"),
])
def test_validation_errors_name_the_key(ident: str, key: str, value: Any, message: str) -> None:
    raw = _raw()
    entry = _threshold(raw, ident)
    if value is None:
        del entry[key]
    else:
        entry[key] = value
    with pytest.raises(ThresholdFileError) as err:
        parse(raw)
    assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    raw = _raw()
    del _threshold(raw, "deadlocks")["runbook"]
    _threshold(raw, "lock_waiters")["team"] = ""
    raw["wedding_day"]["strictness"] = 2
    with pytest.raises(ThresholdFileError) as err:
        parse(raw)
    text = str(err.value)
    assert "3 problem(s)" in text
    for key in ("thresholds[7](deadlocks).runbook", "thresholds[6](lock_waiters).team",
                "wedding_day.strictness"):
        assert key in text


def test_duplicate_ids_are_rejected() -> None:
    raw = _raw()
    raw["thresholds"].append(copy.deepcopy(_threshold(raw, "deadlocks")))
    with pytest.raises(ThresholdFileError, match=r"thresholds\[\]\.id must be unique"):
        parse(raw)


def test_unreadable_yaml_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "thresholds.yml"
    bad.write_text("thresholds: [unclosed\n", encoding="utf-8")
    with pytest.raises(ThresholdFileError, match="not valid YAML"):
        load(bad)


def _copy_tree(root: Path) -> Path:
    for rel in (THRESHOLDS, RULES, INDEX):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, root / rel)
    shutil.copytree(REPO / "docs" / "runbooks", root / "docs" / "runbooks", dirs_exist_ok=True)
    return root


def test_committed_files_equal_freshly_generated_ones(tmp_path: Path) -> None:
    (tmp_path / THRESHOLDS).parent.mkdir(parents=True)
    shutil.copy(REPO / THRESHOLDS, tmp_path / THRESHOLDS)
    result = _cli("generate", "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for rel in (RULES, INDEX):
        assert (tmp_path / rel).read_text(encoding="utf-8") == (REPO / rel).read_text(
            encoding="utf-8"), f"{rel} is stale: run `dbhealth-rules generate`"


def test_check_passes_on_the_repository() -> None:
    result = _cli("check")
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_hand_edited_rule_file(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    rules = root / RULES
    rules.write_text(rules.read_text(encoding="utf-8").replace("for: 5m", "for: 1h", 1),
                     encoding="utf-8")
    result = _cli("check", "--root", str(root))
    assert result.returncode == 1
    assert "rules/dbhealth.rules.yml differs" in result.stderr
    assert "+    for: 5m" in result.stderr


def test_check_fails_when_a_runbook_is_missing(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "docs" / "runbooks" / "deadlocks.md").unlink()
    result = _cli("check", "--root", str(root))
    assert result.returncode == 1
    assert "DBHealthDeadlocks: runbook docs/runbooks/deadlocks.md is missing" in result.stderr


def test_invalid_thresholds_exit_2_naming_the_key(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    raw = _raw()
    _threshold(raw, "replication_lag")["normal"] = "thirty"
    (root / THRESHOLDS).write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = _cli("generate", "--root", str(root))
    assert result.returncode == 2
    assert "thresholds[10](replication_lag).normal" in result.stderr
    assert (root / RULES).read_text(encoding="utf-8") == (REPO / RULES).read_text(
        encoding="utf-8"), "an invalid file must not overwrite the rules"


def test_keep_firing_for_is_rendered_and_accepted_by_promtool(tmp_path: Path) -> None:
    raw = _raw()
    _threshold(raw, "replication_lag")["keep_firing_for"] = "10m"
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(render_rules(parse(raw)), encoding="utf-8")
    rules = yaml.safe_load(rules_file.read_text(encoding="utf-8"))["groups"][0]["rules"]
    lag = next(r for r in rules if r.get("alert") == "DBHealthReplicationLagHigh")
    assert lag["keep_firing_for"] == "10m"
    result = subprocess.run(["promtool", "check", "rules", str(rules_file)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_missing_signal_alert_cannot_use_threshold() -> None:
    raw = _raw()
    raw["wedding_day"]["missing"]["summary"] = "limit {{ $threshold }}"
    with pytest.raises(ThresholdFileError, match=r"wedding_day\.missing: .*no threshold"):
        parse(raw)
