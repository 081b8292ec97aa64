"""The recovery grace (issue 12), as promtool unit tests: no second page after an outage.

The database is down from minute 10 to 19 (``dbhealth_up`` 0, the exporter's database
series stale); DBHealthDatabaseDown fires from 11m and resolves at 20m, when the
database answers again. Then the connection pools reconnect at once:

- storm: utilization over both limits in force for 3 minutes (20m-22m), then normal.
  Without the grace the critical alert (``for: 2m``) would fire at 22m, a second page
  for the incident DatabaseDown already paged (and the Alertmanager inhibition by
  DatabaseDown ended at 20m). With it: nothing.
- saturation: utilization over both limits for 20 minutes after recovery. The grace ends
  5 minutes after DatabaseDown's last firing evaluation (19m50s): the critical is pending
  from 25m and fires at 27m, the warning (``for: 5m``) at 30m.
- other target: a different exporter's database is down; this target's saturation is
  judged as usual (the grace joins on job and instance).
- blip: the database misses one minute (10m), shorter than DatabaseDown's ``for: 1m``, so
  it never fires and earns no grace: a saturation from 11m pages as usual (13m).

Each runs on a normal day and on a wedding day, with values over the limits in force.
The committed file is ``rules/tests/DBHealthConnectionUtilizationHigh.recovery-grace.test.yml``
(written with the other promtool files by ``.venv/bin/python -m tests.rules.promtool_suite``).
"""

from __future__ import annotations

from typing import Any

from .alert_cases import CASES, INSTANCE, JOB, MINUTES, Fire, W, series
from .promtool_suite import EVALUATION_INTERVAL, MODE, expected

ALERT = "DBHealthConnectionUtilizationHigh"
DOWN_ALERT = "DBHealthDatabaseDown"
RECORD = "dbhealth:database_recovering"
FILE_NAME = f"{ALERT}.recovery-grace.test.yml"
OTHER_INSTANCE = "db-reporting:9187"

DOWN_FROM, UP_AGAIN = 10, 20  # minutes: dbhealth_up 0 for minutes 10..19
STORM_MINUTES = 3
SATURATION_MINUTES = 20
GRACE_OVER = UP_AGAIN + 5  # last firing DatabaseDown sample at 19m50s, 5m window
BEFORE = 0.30  # under every limit in force

# mode -> (over both limits in force, its text, the alerts that value fires)
OVER = {
    0: (0.95, "95%", (Fire(W, "80%"), Fire("critical", "90%"))),
    1: (0.55, "55%", (Fire(W, "40%"), Fire("critical", "45%"))),  # the week's reconnect storm
}

CONNECTIONS = next(c for c in CASES if c.alert == ALERT)
DOWN = next(c for c in CASES if c.alert == DOWN_ALERT)


def _down_then_up(instance: str = INSTANCE) -> dict[str, str]:
    name = series("dbhealth_up").replace(INSTANCE, instance)
    return {name: f"1x{DOWN_FROM - 1} 0x{UP_AGAIN - DOWN_FROM - 1} 1x{MINUTES - UP_AGAIN}"}


def _utilization(over: float, over_minutes: int, *, down: bool = True) -> dict[str, str]:
    """Normal load, not exported while the database is down, then ``over`` for a while."""
    rest = MINUTES - UP_AGAIN - over_minutes
    gap = f"stale _x{UP_AGAIN - DOWN_FROM - 1}" if down else f"{BEFORE}x{UP_AGAIN - DOWN_FROM - 1}"
    values = f"{BEFORE}x{DOWN_FROM - 1} {gap} {over}x{over_minutes - 1} {BEFORE}x{rest}"
    return {series("dbhealth_connection_utilization_ratio"): values}


def _check(minute: float, mode: int, fires: tuple[Fire, ...], text: str) -> dict[str, Any]:
    return {"eval_time": f"{round(minute * 60)}s", "alertname": ALERT,
            "exp_alerts": [expected(CONNECTIONS, f, text, mode == 1) for f in fires]}


def _test(name: str, mode: int, inputs: dict[str, str], checks: list[dict[str, Any]],
          exprs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    inputs = {**inputs, MODE: f"{mode}x{MINUTES}"}
    test: dict[str, Any] = {
        "name": f"{ALERT} mode={mode} {name}", "interval": "1m",
        "input_series": [{"series": k, "values": v} for k, v in sorted(inputs.items())],
        "alert_rule_test": checks}
    if exprs:
        test["promql_expr_test"] = exprs
    return test


def _recording(minute: float, instance: str | None) -> dict[str, Any]:
    """The grace record itself: one series per target, labelled with the join labels only."""
    samples = [{"labels": f'{RECORD}{{instance="{instance}",job="{JOB}"}}', "value": 1}]
    return {"expr": RECORD, "eval_time": f"{round(minute * 60)}s",
            "exp_samples": samples if instance else []}


def mode_tests(mode: int) -> list[dict[str, Any]]:
    over, text, fires = OVER[mode]
    critical = tuple(f for f in fires if f.severity == "critical")
    down_fire = next(f for sc in DOWN.scenarios if sc.mode == mode for f in sc.fires)

    def paged() -> dict[str, Any]:  # the outage's own page (a fresh dict: no YAML anchors)
        return {"eval_time": f"{DOWN_FROM + 5}m", "alertname": DOWN_ALERT,
                "exp_alerts": [expected(DOWN, down_fire, "0", mode == 1)]}

    storm = _test(
        f"reconnect storm at {text} for {STORM_MINUTES} min after an outage: no second page",
        mode, {**_down_then_up(), **_utilization(over, STORM_MINUTES)},
        [paged(), *(_check(UP_AGAIN + m, mode, (), text) for m in (1, 2.5, 3.5, 6, 10))],
        [_recording(UP_AGAIN + 2.5, INSTANCE), _recording(GRACE_OVER + 0.5, None)])
    saturation = _test(
        f"saturation at {text} for {SATURATION_MINUTES} min after an outage: pages after the grace",
        mode, {**_down_then_up(), **_utilization(over, SATURATION_MINUTES)},
        [paged(), _check(UP_AGAIN + 3.5, mode, (), text), _check(GRACE_OVER + 1, mode, (), text),
         _check(GRACE_OVER + 2.5, mode, critical, text),
         _check(GRACE_OVER + 5.5, mode, fires, text)])
    other = _test(
        f"saturation at {text} while another target's database is down: judged as usual",
        mode, {**_down_then_up(OTHER_INSTANCE), **_utilization(over, SATURATION_MINUTES,
                                                                down=False)},
        [_check(UP_AGAIN + 2.5, mode, critical, text), _check(UP_AGAIN + 5.5, mode, fires, text)],
        [_recording(UP_AGAIN + 2.5, OTHER_INSTANCE)])
    blip = _test(
        f"saturation at {text} after a blip shorter than DatabaseDown's for: no grace",
        mode, {series("dbhealth_up"): f"1x{DOWN_FROM - 1} 0 1x{MINUTES - DOWN_FROM - 1}",
               series("dbhealth_connection_utilization_ratio"):
                   f"{BEFORE}x{DOWN_FROM - 1} stale {over}x{SATURATION_MINUTES - 1} "
                   f"{BEFORE}x{MINUTES - DOWN_FROM - 1 - SATURATION_MINUTES}"},
        [{"eval_time": f"{DOWN_FROM + 1}m30s", "alertname": DOWN_ALERT, "exp_alerts": []},
         _check(DOWN_FROM + 2.5, mode, (), text), _check(DOWN_FROM + 3.5, mode, critical, text),
         _check(DOWN_FROM + 6.5, mode, fires, text)],
        [_recording(DOWN_FROM + 0.5, None), _recording(DOWN_FROM + 3.5, None)])
    return [storm, saturation, other, blip]


def recovery_doc(rules_file: str) -> dict[str, Any]:
    return {"rule_files": [rules_file], "evaluation_interval": EVALUATION_INTERVAL,
            "tests": [t for mode in (0, 1) for t in mode_tests(mode)]}
