"""The generated rules, judged by the real promtool: syntax, and every alert in every mode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .alert_cases import CASES, AlertCase
from .promtool_suite import (
    COMMITTED,
    RULES_FILE,
    SIGNAL_MISSING,
    committed_files,
    promtool_test_doc,
    run_promtool,
    run_promtool_test,
)

REPO = Path(__file__).resolve().parents[2]


def _alerts_in_rules() -> list[str]:
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return [r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r]


def _stricter_alerts() -> set[str]:
    doc = yaml.safe_load((REPO / "rules" / "thresholds.yml").read_text(encoding="utf-8"))
    return {t["alert"] for t in doc["thresholds"] if t["wedding_day"] == "stricter"}


def test_promtool_check_rules_accepts_the_generated_file() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(RULES_FILE)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_case() -> None:
    names = set(_alerts_in_rules())
    covered = {c.alert for c in CASES} | {SIGNAL_MISSING}
    assert names == covered


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.alert)
def test_cases_cover_both_modes_the_boundary_and_the_absent_signal(case: AlertCase) -> None:
    """Guards the case table itself: no alert may skip a mode or the boundary."""
    kinds = {(sc.mode, bool(sc.fires)) for sc in case.scenarios}
    for needed in [(0, True), (0, False), (1, True), (1, False), (None, True)]:
        assert needed in kinds, f"{case.alert}: no scenario for mode={needed[0]} fires={needed[1]}"
    if case.alert in _stricter_alerts():
        silent_normal = {sc.value for sc in case.scenarios
                         if sc.mode == 0 and not sc.fires and sc.feed is None}
        firing_wedding = {sc.value for sc in case.scenarios
                          if sc.mode == 1 and sc.fires and sc.feed is None}
        assert silent_normal & firing_wedding, f"{case.alert}: no value between the thresholds"


def test_committed_promtool_tests_are_the_generated_ones() -> None:
    """rules/tests/ is what operators run without pytest: it must match the cases."""
    expected = committed_files()
    committed = {p: p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.test.yml")}
    assert sorted(committed) == sorted(expected), "run .venv/bin/python -m tests.rules.promtool_suite"
    for path, text in expected.items():
        assert committed[path] == text, f"{path.name} drifted: regenerate it"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.alert)
def test_alert_behaviour_in_every_mode(case: AlertCase) -> None:
    """Runs the committed file, exactly as an operator would (relative rule path and all)."""
    result = run_promtool(COMMITTED / f"{case.alert}.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_wedding_day_signal_missing() -> None:
    result = run_promtool(COMMITTED / f"{SIGNAL_MISSING}.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_fails_when_an_expectation_is_wrong(tmp_path: Path) -> None:
    """The harness can fail: a wrong threshold annotation must be reported by promtool."""
    case = next(c for c in CASES if c.alert == "DBHealthReplicationLagHigh")
    doc = promtool_test_doc(case)
    firing_normal = next(i for i, sc in enumerate(case.scenarios) if sc.mode == 0 and sc.fires)
    doc["tests"] = [doc["tests"][firing_normal]]
    doc["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]["threshold"] = "15s"
    result = run_promtool_test(doc, tmp_path, "wrong")
    assert result.returncode != 0
    assert 'threshold="30s"' in result.stdout + result.stderr
