"""The Prometheus Operator resources against the operator's published CRD schemas.

``deploy/kubernetes/prometheusrule.yaml`` is generated from rules/thresholds.yml with
the rule file; ``servicemonitor.yaml`` is an example. The schemas are vendored from
prometheus-operator (``tests/deploy/schemas``, commit in each file's ``$comment``).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from demo.promconfig import shipped
from rulegen.cli import PROMETHEUS_RULE, RULES

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).parent / "schemas"


def crd(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return schema


def problems(resource: dict[str, Any], name: str) -> list[str]:
    schema = crd(name)
    found = [] if resource.get("apiVersion") == f"{schema['group']}/{schema['version']}" \
        else [f"apiVersion {resource.get('apiVersion')}"]
    if resource.get("kind") != schema["kind"]:
        found.append(f"kind {resource.get('kind')}")
    validator = jsonschema.Draft7Validator(schema["schema"])
    return found + [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in validator.iter_errors(resource)]


def test_the_prometheus_rule_is_valid_and_holds_exactly_the_shipped_rules(
        tmp_path: Path) -> None:
    resource = yaml.safe_load((REPO / PROMETHEUS_RULE).read_text())
    assert problems(resource, "prometheusrules") == []
    assert resource["spec"] == yaml.safe_load((REPO / RULES).read_text())
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump(resource["spec"]))
    checked = subprocess.run(["promtool", "check", "rules", str(extracted)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_refuses_a_broken_rule() -> None:
    resource = yaml.safe_load((REPO / PROMETHEUS_RULE).read_text())
    broken = copy.deepcopy(resource)
    alert = next(r for r in broken["spec"]["groups"][0]["rules"] if "alert" in r)
    alert["for"] = "5 minutes"
    assert any("for" in p for p in problems(broken, "prometheusrules"))
    assert problems({**resource, "kind": "PrometheusRules"}, "prometheusrules") == [
        "kind PrometheusRules"]


@pytest.mark.parametrize("index", [0, 1])
def test_the_example_service_monitors_are_valid(index: int) -> None:
    monitors = list(yaml.safe_load_all((REPO / "deploy/kubernetes/servicemonitor.yaml")
                                       .read_text()))
    assert len(monitors) == 2
    assert problems(monitors[index], "servicemonitors") == []
    assert monitors[0]["spec"]["endpoints"][0]["interval"] == shipped()["global"]["scrape_interval"], \
        "the scrape interval the alert latency is designed for"
