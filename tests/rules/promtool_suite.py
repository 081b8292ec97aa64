"""Build `promtool test rules` files from the literal AlertCases, and run promtool.

The files are committed under ``rules/tests/`` so operators can run
``promtool test rules rules/tests/*.test.yml`` without Python; a test fails when the
committed files differ from what the cases generate. Regenerate them with
``.venv/bin/python -m tests.rules.promtool_suite``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from .alert_cases import INSTANCE, JOB, MINUTES, AlertCase, Fire, Scenario, series

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "rules" / "dbhealth.rules.yml"
COMMITTED = REPO / "rules" / "tests"
# As the committed files name the rules: relative to rules/tests/ (promtool resolves it so).
RELATIVE_RULES = "../dbhealth.rules.yml"
MODE = series("dbhealth_wedding_day_mode")
SIGNAL_MISSING = "DBHealthWeddingDaySignalMissing"
# promtool evaluates the rules as often as Prometheus does with the shipped group interval.
EVALUATION_INTERVAL = str(yaml.safe_load((REPO / "rules" / "thresholds.yml").read_text())["interval"])
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


def promtool_test_doc(case: AlertCase, rules_file: Path | str = RULES_FILE) -> dict[str, Any]:
    tests = [scenario_test(case, sc) for sc in case.scenarios] + flip_tests(case)
    return {"rule_files": [str(rules_file)], "evaluation_interval": EVALUATION_INTERVAL, "tests": tests}


def signal_missing_doc(rules_file: Path | str = RULES_FILE) -> dict[str, Any]:
    """Fires only after 5 minutes of absence, stays silent while the gauge is 0 or 1."""
    up = {"series": 'dbhealth_up{instance="db-primary:9187",job="dbhealth"}',
          "values": f"1x{MINUTES}"}
    return {"rule_files": [str(rules_file)], "evaluation_interval": EVALUATION_INTERVAL, "tests": [
        {"name": "absent", "interval": "1m", "input_series": [up], "alert_rule_test": [
            {"eval_time": "3m", "alertname": SIGNAL_MISSING, "exp_alerts": []},
            {"eval_time": EVAL, "alertname": SIGNAL_MISSING,
             "exp_alerts": [SIGNAL_MISSING_ALERT]}]},
        {"name": "back after 20 minutes", "interval": "1m", "input_series": [
            up, {"series": MODE, "values": f"_x20 0x{MINUTES - 20}"}],
         "alert_rule_test": [
             {"eval_time": "15m", "alertname": SIGNAL_MISSING,
              "exp_alerts": [SIGNAL_MISSING_ALERT]},
             {"eval_time": EVAL, "alertname": SIGNAL_MISSING, "exp_alerts": []}]},
        *({"name": f"present, mode {mode}", "interval": "1m",
           "input_series": [up, {"series": MODE, "values": f"{mode}x{MINUTES}"}],
           "alert_rule_test": [{"eval_time": EVAL, "alertname": SIGNAL_MISSING,
                                "exp_alerts": []}]} for mode in (0, 1)),
    ]}


def render_doc(doc: dict[str, Any], source: str = "alert_cases.py") -> str:
    header = (f"# Generated from tests/rules/{source}: do not edit; regenerate with\n"
              "# .venv/bin/python -m tests.rules.promtool_suite   (run: promtool test rules "
              "rules/tests/*.test.yml)\n")
    return header + yaml.safe_dump(doc, sort_keys=False, width=1000)


def committed_files() -> dict[Path, str]:
    """rules/tests/<alert>.test.yml for every alert, as they must be committed."""
    from .alert_cases import CASES
    from .recovery_cases import FILE_NAME, recovery_doc

    docs = {case.alert: promtool_test_doc(case, RELATIVE_RULES) for case in CASES}
    docs[SIGNAL_MISSING] = signal_missing_doc(RELATIVE_RULES)
    files = {COMMITTED / f"{alert}.test.yml": render_doc(doc) for alert, doc in docs.items()}
    files[COMMITTED / FILE_NAME] = render_doc(recovery_doc(RELATIVE_RULES), "recovery_cases.py")
    return files


def run_promtool_test(doc: dict[str, Any], directory: Path,
                      name: str) -> subprocess.CompletedProcess[str]:
    path = directory / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000), encoding="utf-8")
    return run_promtool(path)


def run_promtool(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "test", "rules", *map(str, paths)], capture_output=True,
                          text=True, timeout=300, check=False)


if __name__ == "__main__":
    COMMITTED.mkdir(exist_ok=True)
    for target in COMMITTED.glob("*.test.yml"):
        target.unlink()
    for target, text in committed_files().items():
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(REPO)}")
