"""Build `promtool test rules` files from the literal AlertCases, and run promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from .alert_cases import INSTANCE, JOB, MINUTES, AlertCase, Fire, Scenario, series

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "rules" / "dbhealth.rules.yml"
MODE = series("dbhealth_wedding_day_mode")
SIGNAL_MISSING = "DBHealthWeddingDaySignalMissing"
EVAL = "30m"  # past every `for` (at most 15m) and every rate window

SIGNAL_MISSING_ALERT = {
    "exp_labels": {"severity": "warning", "team": "platform", "impact": "none"},
    "exp_annotations": {
        "summary": "Wedding-day mode signal is missing; strict thresholds apply",
        "description": "dbhealth_wedding_day_mode has not been scraped for 5 minutes. Every "
                       "threshold falls back to its wedding-day (strict) value until the signal "
                       "is back, so expect more alerts than usual.",
        "wedding_day": "true",
        "runbook_url": "docs/runbooks/wedding-day-signal-missing.md",
    },
}


def expected(case: AlertCase, fire: Fire, value_text: str, wedding_day: bool) -> dict[str, Any]:
    day = "true" if wedding_day else "false"
    fill = {"value": value_text, "threshold": fire.threshold, "wedding_day": day}
    return {
        "exp_labels": {"severity": fire.severity, "team": case.team,
                       "impact": case.impact.get(fire.severity, "none"),
                       "instance": INSTANCE, "job": JOB, **case.labels},
        "exp_annotations": {
            "summary": case.text("summary", fire.severity).format(**fill),
            "description": case.text("description", fire.severity).format(**fill),
            "wedding_day": day,
            "threshold": fire.threshold,
            "runbook_url": f"docs/runbooks/{case.runbook}.md",
        },
    }


def _inputs(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": name, "values": v} for name, v in sorted(values.items())]


def scenario_test(case: AlertCase, sc: Scenario) -> dict[str, Any]:
    feed = sc.feed or case.feed
    values = feed(sc.value)
    if sc.mode is not None:
        values[MODE] = f"{sc.mode}x{MINUTES}"
    alerts = [expected(case, f, sc.value_text, sc.mode != 0) for f in sc.fires]
    checks = [{"eval_time": EVAL, "alertname": case.alert, "exp_alerts": alerts}]
    if sc.mode is None:  # fail strict, and say so
        checks.append({"eval_time": EVAL, "alertname": SIGNAL_MISSING,
                       "exp_alerts": [SIGNAL_MISSING_ALERT]})
    return {"name": f"{case.alert} mode={sc.mode} value={sc.value} {sc.why}".strip(),
            "interval": "1m", "input_series": _inputs(values), "alert_rule_test": checks}


def flip_tests(case: AlertCase) -> list[dict[str, Any]]:
    """Mode flips at 31m both ways; the alert must still be firing at 31m with equal labels.

    Every alert has `for` >= 1m, so had the flip resolved it (a new identity) it
    would only be pending at 31m, and promtool lists firing alerts only.
    """
    flip = case.flip
    tests = []
    for before, after in ((1, 0), (0, 1)):
        values = case.feed(flip.value)
        values[MODE] = f"{before}x30 {after}x30"
        fires = {0: flip.normal, 1: flip.wedding}
        tests.append({
            "name": f"{case.alert} keeps its identity when the mode flips {before}->{after}",
            "interval": "1m", "input_series": _inputs(values),
            "alert_rule_test": [
                {"eval_time": f"{t}m", "alertname": case.alert,
                 "exp_alerts": [expected(case, f, flip.value_text, mode == 1)
                                for f in fires[mode]]}
                for t, mode in ((30, before), (31, after))],
        })
    return tests


def promtool_test_doc(case: AlertCase, rules_file: Path = RULES_FILE) -> dict[str, Any]:
    tests = [scenario_test(case, sc) for sc in case.scenarios] + flip_tests(case)
    return {"rule_files": [str(rules_file)], "evaluation_interval": "30s", "tests": tests}


def run_promtool_test(doc: dict[str, Any], directory: Path,
                      name: str) -> subprocess.CompletedProcess[str]:
    path = directory / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000), encoding="utf-8")
    return subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
