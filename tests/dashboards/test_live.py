"""Every panel query, evaluated on a real Prometheus scraping the real exporter and receiver.

Prometheus runs the shipped configuration (its intervals and jobs, targets pointed at the
test's processes) with the shipped rules loaded. Variables are resolved the way Grafana
resolves them: in order, ``label_values(sel, label)`` over the series, "All" as a regex of
every value; ``$__rate_interval`` is what Grafana computes for the shipped scrape interval
(4 x scrape_interval). A query may fail on nothing, and may come back empty only where its
panel says so (``Query.may_be_empty``, also printed in the panel's description).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from dashgen.panels import Spec
from dashgen.render import SPECS
from demo import promconfig

from ..support.polling import wait_until
from ..support.scrape import Samples
from .live import SPIKE, LiveStack
from .promql import dashboards, panels

SCRAPE = promconfig.shipped()["global"]["scrape_interval"]
RATE_INTERVAL = f"{4 * int(SCRAPE.rstrip('s'))}s"
BOARDS = {board["uid"]: board for board in dashboards().values()}


@dataclass(frozen=True)
class Target:
    uid: str
    panel: str
    ref: str
    expr: str
    table: bool
    may_be_empty: str | None

    @property
    def id(self) -> str:
        return f"{self.uid}:{self.panel}:{self.ref}"


def _targets(spec: Spec) -> list[Target]:
    reasons = {(p.title, ref): q.may_be_empty for p in spec.panels()
               for ref, q in zip("ABCDEFGHIJ", p.queries, strict=False)}
    return [Target(spec.uid, p["title"], t["refId"], t["expr"], t.get("format") == "table",
                   reasons[(p["title"], t["refId"])])
            for p in panels(BOARDS[spec.uid]) for t in p["targets"]]


TARGETS = [t for spec in SPECS for t in _targets(spec)]


def _substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    return expr.replace("$__rate_interval", RATE_INTERVAL)


def _escape(value: str) -> str:
    """A value inside a PromQL regex string, as Grafana's Prometheus data source escapes it."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def resolve(live: LiveStack, board: dict[str, Any]) -> dict[str, str]:
    """Each query variable in order, set to All: a regex of all its values, as Grafana sends it.

    A variable with no value is left out (its queries then fail to match: they stay empty).
    """
    values: dict[str, str] = {}
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
        assert match, var["query"]
        source, label = _substitute(match.group(1), values), match.group(2)
        answer = live.prometheus.query(f"count by ({label}) ({source})")
        assert answer["status"] == "success", answer
        found = sorted(r["metric"][label] for r in answer["data"]["result"] if label in r["metric"])
        if found:
            values[var["name"]] = "(" + "|".join(_escape(v) for v in found) + ")"
    return values


def evaluate(live: LiveStack, target: Target, values: dict[str, str]) -> dict[str, Any]:
    expr = _substitute(target.expr, values)
    if target.table:
        return live.prometheus.query(expr)
    end = time.time()
    return live.prometheus.query_range(expr, end - 600, end, SCRAPE)


@dataclass
class Evaluation:
    variables: dict[str, dict[str, str]]  # dashboard uid → variable → value sent
    answers: dict[str, dict[str, Any]]  # target id → Prometheus' answer


@pytest.fixture(scope="module")
def evaluation(live: LiveStack) -> Evaluation:
    """Every target's answer, once every target that must have data has it (or the deadline)."""
    wait_until(live.targets_up, timeout=60, what="prometheus to scrape both targets")
    done = Evaluation({}, {})

    def complete() -> bool:
        done.variables = {uid: resolve(live, board) for uid, board in BOARDS.items()}
        for target in TARGETS:
            done.answers[target.id] = evaluate(live, target, done.variables[target.uid])
        return all(done.answers[t.id]["status"] == "success"
                   and (done.answers[t.id]["data"]["result"] or t.may_be_empty) for t in TARGETS)

    with contextlib.suppress(AssertionError):  # the tests below name what is still missing
        wait_until(complete, timeout=150, interval=5.0, what="every required panel query to have data")
    return done


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_variable_resolves(uid: str, evaluation: Evaluation) -> None:
    names = [v["name"] for v in BOARDS[uid]["templating"]["list"] if v["type"] == "query"]
    assert sorted(evaluation.variables[uid]) == sorted(names)


def test_prometheus_loaded_the_shipped_rules_and_they_evaluate(live: LiveStack,
                                                               evaluation: Evaluation) -> None:
    groups = live.prometheus.api("rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {g["name"] for g in groups} == {"dbhealth"} and len(rules) > 40
    assert [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_panel_query_answers(target: Target, evaluation: Evaluation) -> None:
    answer = evaluation.answers[target.id]
    assert answer["status"] == "success", f"{target.expr}: {answer.get('error')}"
    if target.may_be_empty is None:
        assert answer["data"]["result"], f"no data for {target.expr}"


def test_may_be_empty_is_rare_and_explained() -> None:
    flagged = [t for t in TARGETS if t.may_be_empty]
    assert len(flagged) <= len(TARGETS) // 5
    assert all(len(t.may_be_empty or "") > 10 for t in flagged)


def test_a_real_alert_reaches_the_alerting_panels_alertmanager_and_the_receiver(
        live: LiveStack, evaluation: Evaluation) -> None:
    """The may-be-empty alert panels are right when something fires: the whole pipeline."""
    [firing] = [t for t in TARGETS if t.panel == "Firing alerts"]
    values = evaluation.variables[firing.uid]

    def spike_on_panel() -> bool:
        answer = evaluate(live, firing, values)
        return any(r["metric"].get("alertname") == SPIKE for r in answer["data"]["result"])

    wait_until(spike_on_panel, timeout=240, interval=2.0, what=f"{SPIKE} on the Firing alerts panel")

    def in_alertmanager() -> bool:
        with urllib.request.urlopen(f"{live.alertmanager_url}/api/v2/alerts", timeout=5) as response:
            return any(a["labels"]["alertname"] == SPIKE for a in json.loads(response.read()))

    wait_until(in_alertmanager, timeout=60, interval=1.0, what=f"{SPIKE} in Alertmanager")

    def at_the_receiver() -> bool:
        page = Samples(live.metrics_text(live.gunicorn.url))
        received = page.value("dbhealth_receiver_webhooks_received_total")
        return received is not None and received >= 2  # ours at start-up, then Alertmanager's

    # The example config batches warnings for group_wait (30 s) before the webhook.
    wait_until(at_the_receiver, timeout=90, interval=1.0, what="Alertmanager's webhook at the receiver")
