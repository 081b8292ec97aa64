"""DBHealth / Queries: where the database's time goes, by wedding domain and statement."""

from __future__ import annotations

from .panels import SEL, Panel, Query, Row, Spec, Variable, exporter_variables, threshold

DOM = f'{SEL}, domain=~"$domain"'
RATE = "[$__rate_interval]"

DOMAINS = Row("Wedding domains", (
    Panel("Calls by domain", "Which parts of WedSync (guest lists, bookings, payments, …) send the "
          "most statements?", "ops",
          (Query(f"sum by (domain) (rate(dbhealth_query_calls_total{{{DOM}}}{RATE}))", "{{domain}}"),),
          width=8),
    Panel("Execution time by domain", "Which domains keep the database busy (seconds of execution "
          "per second)?", "s",
          (Query(f"sum by (domain) (rate(dbhealth_query_exec_seconds_total{{{DOM}}}{RATE}))", "{{domain}}"),),
          width=8),
    Panel("Mean execution time against the slow-query threshold", "Is any domain's mean statement "
          "time (over 5 minutes, as the alert sees it) above the threshold in force?", "s",
          (Query(f"dbhealth:query_mean_exec_seconds:rate5m{{{DOM}}}", "{{domain}}"),
           threshold("slow_queries")), width=8),
))

STATEMENTS = Row("Top statements and index advice", (
    Panel("Top statements by execution time", "Which statements (queryid, domain) cost the most "
          "time right now? The text is in the exporter's /queries report.", "s",
          (Query(f"topk(10, sum by (queryid, domain) (rate(dbhealth_statement_exec_seconds_total"
                 f"{{{DOM}}}{RATE})))"),), kind="table"),
    Panel("Top statements by calls", "Which statements run most often?", "ops",
          (Query(f"topk(10, sum by (queryid, domain) (rate(dbhealth_statement_calls_total"
                 f"{{{DOM}}}{RATE})))"),), kind="table"),
    Panel("Index suggestions", "Which indexes would the advisor (HypoPG) create, and how much "
          "planner cost would each save?", "percentunit",
          (Query(f"dbhealth_index_suggestion_estimated_saving_ratio{{{SEL}}}",
                 may_be_empty="the advisor found nothing worth an index"),
           Query(f"dbhealth_index_suggestion_info{{{SEL}}}",
                 may_be_empty="the advisor found nothing worth an index")), kind="table", width=16),
    Panel("Index advisor health", "Did the last advisor run succeed, and is HypoPG installed?",
          "bool_yes_no",
          (Query(f"dbhealth_index_advisor_success{{{SEL}}}", "last run ok"),
           Query(f"dbhealth_index_advisor_hypopg_available{{{SEL}}}", "HypoPG available")),
          kind="stat", width=8),
))

SPEC = Spec(
    uid="dbhealth-queries", title="DBHealth / Queries", slug="queries",
    summary="pg_stat_statements by wedding domain, the top statements, and the index advisor.",
    variables=exporter_variables(
        Variable("domain", "Domain", f"dbhealth_query_calls_total{{{SEL}}}")),
    rows=(DOMAINS, STATEMENTS),
)
