"""The statements collector's metric families, built fresh from the tracker and the advice.

Text never becomes a label: series carry the queryid and the wedding domain only.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .settings import DOMAINS
from .suggestions import AdvisorResult
from .tracker import StatementTracker


def statement_families(t: StatementTracker, unclassified: int,
                        advice: AdvisorResult | None) -> list[Metric]:
    """The statements collector's families: domain totals, top-N series, the advice."""
    out: list[Metric] = []
    calls = CounterMetricFamily("dbhealth_query_calls",
                                "Statement executions by wedding domain (pg_stat_statements).",
                                labels=["domain"])
    secs = CounterMetricFamily("dbhealth_query_exec_seconds",
                               "Statement execution time by wedding domain.", labels=["domain"])
    rows = CounterMetricFamily("dbhealth_query_rows", "Rows returned or affected, by domain.",
                               labels=["domain"])
    for domain in DOMAINS:
        totals = t.domains[domain]
        calls.add_metric([domain], totals.calls)
        secs.add_metric([domain], totals.seconds)
        rows.add_metric([domain], totals.rows)
    out += [calls, secs, rows]
    labels = ["queryid", "domain"]
    s_calls = CounterMetricFamily(
        "dbhealth_statement_calls",
        "Executions of the top-N statements by total time; queryid=\"other\" is the rest.",
        labels=labels)
    s_secs = CounterMetricFamily(
        "dbhealth_statement_exec_seconds",
        "Execution time of the top-N statements; queryid=\"other\" is the rest.", labels=labels)
    for queryid in t.tracked:
        totals = t.series[queryid]
        key = [str(queryid), t.series_domain.get(queryid, "other")]
        s_calls.add_metric(key, totals.calls)
        s_secs.add_metric(key, totals.seconds)
    s_calls.add_metric(["other", "other"], t.other.calls)
    s_secs.add_metric(["other", "other"], t.other.seconds)
    out += [s_calls, s_secs]
    out.append(GaugeMetricFamily("dbhealth_statements_entries",
                                 "pg_stat_statements entries read in the last collection.",
                                 value=float(t.entries)))
    out.append(GaugeMetricFamily("dbhealth_statements_unclassified",
                                 "Statements waiting for their text to be classified.",
                                 value=float(unclassified)))
    return out + advisor_families(advice)


def advisor_families(result: AdvisorResult | None) -> list[Metric]:
    """The index advisor's last result as metrics (none before its first run)."""
    if result is None:
        return []
    labels = ["table", "columns"]
    info = GaugeMetricFamily("dbhealth_index_suggestion_info",
                             "1 per index the advisor suggests (never created by the exporter).",
                             labels=labels)
    saving = GaugeMetricFamily(
        "dbhealth_index_suggestion_estimated_saving_ratio",
        "Estimated planner cost saved by the suggested index on its slow statements (0-1).",
        labels=labels)
    saved = GaugeMetricFamily(
        "dbhealth_index_suggestion_estimated_saved_seconds_per_hour",
        "Estimated execution time the suggested index saves per hour on the statements it helps.",
        labels=labels)
    helped = GaugeMetricFamily("dbhealth_index_suggestion_statements",
                               "Statements the suggested index helps.", labels=labels)
    for suggestion in result.suggestions:
        key = [suggestion.table_label, suggestion.columns_label]
        info.add_metric(key, 1.0)
        if suggestion.saving_ratio is not None:
            saving.add_metric(key, suggestion.saving_ratio)
        if suggestion.seconds_saved_per_hour is not None:
            saved.add_metric(key, suggestion.seconds_saved_per_hour)
            helped.add_metric(key, float(len(suggestion.helped)))
    plans = GaugeMetricFamily(
        "dbhealth_statement_plan_regression_info",
        "1 per top statement whose generic plan reads a large table sequentially where it "
        "used an index before (index scan -> seq scan).", labels=["queryid", "table"])
    for change in result.plan_changes:
        plans.add_metric([str(change.queryid), change.table], 1.0)
    return [
        info, saving, saved, helped, plans,
        GaugeMetricFamily("dbhealth_index_advisor_last_run_timestamp_seconds",
                          "When the index advisor last finished.", value=result.finished_at),
        GaugeMetricFamily("dbhealth_index_advisor_success",
                          "1 when the last index advisor run completed.",
                          value=0.0 if result.error else 1.0),
        GaugeMetricFamily("dbhealth_index_advisor_hypopg_available",
                          "1 when HypoPG what-if planning was available to the advisor.",
                          value=1.0 if result.hypopg else 0.0),
    ]
