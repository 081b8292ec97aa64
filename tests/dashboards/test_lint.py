"""grafana/dashboard-linter's rules, ported to pytest, plus rules of our own.

Ported: template-datasource, template-job, template-instance, template-on-time-change-reload,
panel-datasource, panel-title-description, panel-units, panel-no-targets, target-promql,
target-rate-interval, target-counter-agg. Ours: no datasource uid written anywhere, every
metric a panel reads exists on the real exporter's or receiver's /metrics (or is one of the
shipped recording rules), and every metric of SPEC section 2 is on some panel.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .live import RULES, LiveStack
from .promql import RATE_INTERVAL_SENTINEL, dashboards, panels, parse, range_calls, selectors

BOARDS = dashboards()
PANELS = [(name, p) for name, board in BOARDS.items() for p in panels(board)]
IDS = [f"{name}:{p['title']}" for name, p in PANELS]
TARGETS = [(name, p, t) for name, p in PANELS for t in p["targets"]]
TARGET_IDS = [f"{name}:{p['title']}:{t['refId']}" for name, p, t in TARGETS]
TEMPLATED = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's unit ids (public/app/features/... valueFormats) that these dashboards may use.
UNITS = {"none", "short", "percent", "percentunit", "s", "ms", "bytes", "ops", "reqps", "bool",
         "bool_yes_no", "bool_on_off", "dtdurations", "dateTimeFromNow", "dateTimeAsIso"}
# SPEC section 2, "Core metric contract": names fixed because dashboards depend on them.
SPEC_METRICS = (
    "dbhealth_up", "dbhealth_collector_success", "dbhealth_collector_duration_seconds",
    "dbhealth_cache_age_seconds", "dbhealth_connections", "dbhealth_connections_max",
    "dbhealth_connection_utilization_ratio", "dbhealth_oldest_transaction_age_seconds",
    "dbhealth_lock_waiting_sessions", "dbhealth_deadlocks_total", "dbhealth_transactions_total",
    "dbhealth_blocks_hit_total", "dbhealth_blocks_read_total", "dbhealth_database_size_bytes",
    "dbhealth_replication_lag_seconds", "dbhealth_wal_archive_last_success_timestamp_seconds",
    "dbhealth_wal_archive_failures_total", "dbhealth_table_seq_scans_total",
    "dbhealth_table_index_scans_total", "dbhealth_table_dead_tuples", "dbhealth_query_calls_total",
    "dbhealth_query_exec_seconds_total", "dbhealth_statement_calls_total",
    "dbhealth_statement_exec_seconds_total", "dbhealth_index_suggestion_info",
    "dbhealth_wedding_day_mode", "dbhealth_wedding_peak_active", "dbhealth_weddings_today",
    "dbhealth_vendors_booked_today", "dbhealth_backup_last_success_timestamp_seconds",
    "dbhealth_backup_verification_success", "dbhealth_backup_last_verification_timestamp_seconds",
    "dbhealth_backup_restore_duration_seconds", "dbhealth_backup_size_bytes",
)
BUILTIN = {"ALERTS"}


def _recorded() -> set[str]:
    return {rule["record"] for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule}


def _exposed(text: str) -> dict[str, str]:
    """Metric name → type, from real exposition text: HELP/TYPE lines count, so a family
    with no sample right now (no standby, no suggestion yet) is still a name the page has."""
    found: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        found[family.name + ("_total" if family.type == "counter" else "")] = family.type
        for sample in family.samples:
            found[sample.name] = family.type
    return found


@pytest.fixture(scope="module")
def exposed(live: LiveStack) -> dict[str, str]:
    return {**_exposed(live.metrics_text(live.exporter_url)),
            **_exposed(live.metrics_text(live.gunicorn.url))}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_template_variables(name: str) -> None:
    variables = BOARDS[name]["templating"]["list"]
    datasources = [v for v in variables if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in datasources] == [("datasource", "prometheus")]
    queries = {v["name"]: v for v in variables if v["type"] == "query"}
    assert {"job", "instance"} <= set(queries)
    assert '$job' in queries["instance"]["query"]  # instance is chained to job
    for var in queries.values():
        assert var["datasource"] == TEMPLATED, var["name"]
        assert var["refresh"] == 2, f"{var['name']} must refresh on time-range change"
        assert var["multi"] and var["includeAll"]
        assert re.fullmatch(r"label_values\(.+, \w+\)", var["query"])


def test_no_datasource_uid_is_written_down() -> None:
    """Every datasource reference anywhere is the variable (issue: hard-coded uids)."""
    def refs(node: Any) -> list[Any]:
        if isinstance(node, dict):
            own = [node["datasource"]] if "datasource" in node else []
            return own + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for item in node for r in refs(item)]
        return []
    for name, board in BOARDS.items():
        found = refs(board)
        assert found and all(ref == TEMPLATED for ref in found), name
        assert "DS_PROMETHEUS" not in json.dumps(board) and "__inputs" not in board


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=IDS)
def test_panel_datasource_title_description_unit_and_targets(name: str, panel: dict[str, Any]) -> None:
    assert panel["datasource"] == TEMPLATED
    assert panel["title"] and len(panel["description"]) > 20
    assert panel["fieldConfig"]["defaults"].get("unit") in UNITS
    assert panel["targets"], "panel-no-targets"
    assert all(t["datasource"] == TEMPLATED and t["expr"] for t in panel["targets"])


@pytest.mark.parametrize(("name", "panel", "target"), TARGETS, ids=TARGET_IDS)
def test_target_promql_and_rate_interval(name: str, panel: dict[str, Any], target: dict[str, Any]) -> None:
    expr = target["expr"]
    tree = parse(expr)  # target-promql: raises on anything that is not PromQL
    calls = list(range_calls(tree))
    assert all(window == RATE_INTERVAL_SENTINEL for _, window in calls), (
        f"every rate/irate/increase must use [$__rate_interval]: {expr}")
    for selector in selectors(tree):
        if selector.name.startswith("dbhealth_") and not selector.name.startswith("dbhealth:"):
            assert 'job=~"$job"' in expr and 'instance=~"$instance"' in expr, (
                f"target-job/target-instance: {expr}")


@pytest.mark.parametrize(("name", "panel", "target"), TARGETS, ids=TARGET_IDS)
def test_every_metric_exists_and_counters_only_inside_rate(
        name: str, panel: dict[str, Any], target: dict[str, Any], exposed: dict[str, str]) -> None:
    recorded = _recorded()
    for selector in selectors(parse(target["expr"])):
        known = selector.name in exposed or selector.name in recorded or selector.name in BUILTIN
        assert known, (
            f"{selector.name} is on no real /metrics page and is no shipped recording rule")
        if exposed.get(selector.name) == "counter" or selector.name.endswith("_total"):
            assert selector.in_range_function, f"counter {selector.name} outside rate/increase"


def test_every_spec_metric_is_on_some_panel() -> None:
    used = {s.name for _, _, t in TARGETS for s in selectors(parse(t["expr"]))}
    assert sorted(set(SPEC_METRICS) - used) == []
