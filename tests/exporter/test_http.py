"""The exporter over real HTTP: exposition validity, endpoints, auth, rate limits."""

from __future__ import annotations

import pytest

from ..support.scrape import get_json, http_get, promtool_problems, scrape
from .conftest import ExporterFactory, base_url

# Every metric of SPEC section 2 that the core collectors fill (issue 2).
CORE_METRICS = {
    "dbhealth_up", "dbhealth_collector_success", "dbhealth_collector_duration_seconds",
    "dbhealth_cache_age_seconds", "dbhealth_connections", "dbhealth_connections_max",
    "dbhealth_connection_utilization_ratio", "dbhealth_oldest_transaction_age_seconds",
    "dbhealth_lock_waiting_sessions", "dbhealth_deadlocks_total", "dbhealth_transactions_total",
    "dbhealth_blocks_hit_total", "dbhealth_blocks_read_total", "dbhealth_database_size_bytes",
    "dbhealth_wal_archive_last_success_timestamp_seconds", "dbhealth_wal_archive_failures_total",
    "dbhealth_table_seq_scans_total", "dbhealth_table_index_scans_total",
    "dbhealth_table_dead_tuples",
}


def test_metrics_endpoint_serves_the_contract_and_passes_promtool(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn)
    samples = scrape(base_url(exporter))
    missing = CORE_METRICS - samples.names()
    assert not missing, f"missing metrics: {sorted(missing)}"
    assert samples.value("dbhealth_up") == 1
    for labels in samples.labelsets("dbhealth_collector_success"):
        assert samples.value("dbhealth_collector_success", **labels) == 1, labels
    assert promtool_problems(samples.text) == []


def test_cached_scrape_runs_no_statement(make_exporter: ExporterFactory, demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn)
    first = scrape(base_url(exporter))
    second = scrape(base_url(exporter))
    assert first.value("dbhealth_collections_total") == 1
    assert second.value("dbhealth_collections_total") == 1
    assert second.value("dbhealth_cache_hits_total", tier="l1") == 1
    # at most one statement per enabled collector in a fresh collection, plus (in the
    # process's first one only) the lookup of pg_stat_statements' schema in pg_extension
    assert first.value("dbhealth_collection_statements") <= len(  # type: ignore[operator]
        exporter.settings.enabled_collectors) + 1
    # same data, visibly older
    assert second.value("dbhealth_collection_timestamp_seconds") == first.value(
        "dbhealth_collection_timestamp_seconds")
    assert second.value("dbhealth_cache_age_seconds") >= first.value(  # type: ignore[operator]
        "dbhealth_cache_age_seconds")


def test_health_endpoints(make_exporter: ExporterFactory, demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn)
    status, body = get_json(base_url(exporter) + "/health")
    assert status == 200 and body["status"] == "healthy"
    status, full = get_json(base_url(exporter) + "/health/full")
    assert status == 200
    assert set(full["checks"]) >= {"activity", "database", "replication", "archiver", "tables"}
    for check in full["checks"].values():
        assert check["success"] is True and check["duration_seconds"] >= 0
    assert full["metrics"]["dbhealth_connections_max"] == 200
    status, _ = get_json(base_url(exporter) + "/nope")
    assert status == 404


def test_bearer_token_and_rate_limit_on_json_endpoints(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn, web={"auth_token": "s3cret-token",
                                            "rate_limit_per_minute": 3})
    url = base_url(exporter) + "/health/full"
    status, body = get_json(url)
    assert status == 401 and "token" in body["error"]
    status, _ = get_json(url, {"Authorization": "Bearer wrong"})
    assert status == 401
    ok = {"Authorization": "Bearer s3cret-token"}
    statuses = [get_json(url, ok)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, headers, _ = http_get(url, ok)
    assert status == 429 and headers.get("Retry-After") == "1"
    # /metrics is never rate limited or token protected: Prometheus must always get in
    for _ in range(5):
        assert http_get(base_url(exporter) + "/metrics")[0] == 200


def test_method_not_allowed(make_exporter: ExporterFactory, demo_dsn: str) -> None:
    import urllib.request
    exporter = make_exporter(demo_dsn)
    request = urllib.request.Request(base_url(exporter) + "/metrics", data=b"x", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("POST accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 405


def test_json_endpoints_are_logged_once_without_the_token_and_refusals_counted(
        make_exporter: ExporterFactory, demo_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    import json
    caplog.set_level("INFO", logger="exporter.access")
    exporter = make_exporter(demo_dsn, web={"auth_token": "s3cret-token"})
    url = base_url(exporter)
    get_json(url + "/health/full", {"Authorization": "Bearer wrong-guess"})
    get_json(url + "/health/full", {"Authorization": "Bearer s3cret-token"})
    get_json(url + "/guest/jane@example.com")
    scrape(url)  # /metrics: not logged (Prometheus' own up says whether it works)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "exporter.access"]
    assert [(x["route"], x["status"], x["outcome"], x["who"]) for x in lines] == [
        ("/health/full", 401, "refused", "client 127.0.0.1"),
        ("/health/full", 200, "ok", "bearer token"),
        ("<unknown>", 404, "bad_request", "client 127.0.0.1")]
    for secret in ("s3cret-token", "wrong-guess", "jane@example.com"):
        assert secret not in caplog.text
    # Unknown wedding state counts as a wedding day: full detail, never the token.
    assert lines[0]["auth_scheme"] == "Bearer" and "user_agent" in lines[0]
    samples = scrape(url)
    assert samples.value("dbhealth_exporter_auth_failures_total", route="/health/full") == 1
