"""/queries and /metrics of a real exporter: findings, domains, advice, priority, no PII."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from exporter.server import Exporter
from exporter.statements.report import QueryReport

from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from ..support.scrape import get_json, http_get, promtool_problems, scrape
from ..support.statements import ONLY_STATEMENTS, collect, collect_settled, direct_scraper, settings_for

EMAIL = "alice.secret@example.com"
PHONE = "+447700900123"
SECRETS = (EMAIL, PHONE, "alice.secret", "7700900123")

GUEST_BY_EMAIL = "SELECT * FROM guests WHERE email = $1"
BOOKINGS_BY_VENDOR = "SELECT * FROM bookings WHERE vendor_id = $1"
VENDOR_BY_ID = "SELECT * FROM vendors WHERE id = $1"

FAST_REPORTING = {
    "cache": {"l1_ttl_seconds": 0, "error_ttl_seconds": 0},
    "statements": {"slow_threshold_ms": 0.3, "n_plus_one_min_calls": 200,
                   "large_table_rows": 5000, "text_fetch_interval_seconds": 0,
                   "report_limit": 5000,
                   # A few lookups: their time per hour depends on how long ago the suite's
                   # cluster reset pg_stat_statements, not on what this test checks.
                   "advisor": {"initial_delay_seconds": 0, "interval_seconds": 3600,
                               "min_seconds_saved_per_hour": 0}},
}


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exporter in started:
        exporter.stop()


def _start(started: list[Exporter], dsn: str, **overrides: Any) -> str:
    exporter = Exporter(settings_for(dsn, **overrides))
    exporter.start()
    started.append(exporter)
    return f"http://127.0.0.1:{exporter.port}"


def _workload(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(30):
            conn.execute("SELECT * FROM guests WHERE email = %s", [f"guest{i}@example.com"])
            conn.execute("SELECT * FROM bookings WHERE vendor_id = %s", [i + 500])
        for i in range(300):  # one row per call, many calls: an N+1 pattern
            conn.execute("SELECT * FROM vendors WHERE id = %s", [i + 1])


def _by_text(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["text"]: entry for entry in report["statements"]}


def test_slow_lookups_are_flagged_classified_and_get_exactly_their_indexes(
        tracker_dsn: str, exporters: list[Exporter]) -> None:
    _workload(tracker_dsn)
    url = _start(exporters, tracker_dsn, **FAST_REPORTING)
    advisor = exporters[0].advisor
    assert advisor is not None
    wait_until(lambda: advisor.latest is not None, timeout=60, what="the first advisor run")
    status, report = get_json(url + "/queries")
    assert status == 200, report
    entries = _by_text(report)
    guest, booking, vendor = (entries[GUEST_BY_EMAIL], entries[BOOKINGS_BY_VENDOR],
                              entries[VENDOR_BY_ID])
    assert guest["domain"] == "guest_list" and booking["domain"] == "vendor_schedule"
    assert guest["calls"] == 30 and booking["calls"] == 30
    for entry in (guest, booking):
        kinds = {f["kind"] for f in entry["findings"]}
        assert "slow" in kinds and "seq_scan_large_table" in kinds, entry
        assert entry["mean_ms"] >= report["slow_threshold_ms"]
        assert entry["max_ms"] >= entry["mean_ms"]
    assert [(s["table"], s["columns"]) for s in guest["index_suggestions"]] == [
        ("guests", ["email"])]
    assert [(s["table"], s["columns"]) for s in booking["index_suggestions"]] == [
        ("bookings", ["vendor_id"])]
    assert "n_plus_one" in {f["kind"] for f in vendor["findings"]}
    assert {t["table"] for t in report["tables"]} >= {"guests", "bookings"}
    advice = report["index_advisor"]
    assert advice["hypopg_available"] is True
    assert {(s["table"], tuple(s["columns"])) for s in advice["suggestions"]} == {
        ("guests", ("email",)), ("bookings", ("vendor_id",))}
    for suggestion in advice["suggestions"]:
        assert suggestion["method"] == "hypopg"
        assert suggestion["estimated_saving_ratio"] >= 0.5
    # the same advice as metrics, and the exposition stays promtool-clean
    samples = scrape(url)
    assert sorted((s["table"], s["columns"]) for s in
                  samples.labelsets("dbhealth_index_suggestion_info")) == [
        ("bookings", "vendor_id"), ("guests", "email")]
    assert samples.value("dbhealth_index_suggestion_estimated_saving_ratio",  # type: ignore[operator]
                         table="guests", columns="email") >= 0.5
    assert samples.value("dbhealth_collector_success", collector="statements") == 1
    assert promtool_problems(samples.text) == []
    # advice only: no index was created
    with psycopg.connect(tracker_dsn) as conn:
        indexes = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename IN "
                               "('guests', 'bookings')").fetchall()
    assert not any("email" in i[0] or "vendor_id" in i[0] for i in indexes)


def test_literals_never_reach_metrics_report_or_logs(
        tracker_dsn: str, exporters: list[Exporter], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with psycopg.connect(tracker_dsn, autocommit=True) as conn:
        # utility statements: pg_stat_statements (PostgreSQL 15) keeps their text verbatim
        conn.execute(f"COMMENT ON TABLE guests IS '{EMAIL} {PHONE}'")
        conn.execute(f"DO $$BEGIN PERFORM '{EMAIL}', '{PHONE}'; END$$")
        conn.execute(f"NOTIFY guests_changed, '{EMAIL} {PHONE}'")
        conn.execute(f"SET application_name = '{EMAIL}'")
        # and literals inlined in an ordinary query (no bind parameters)
        psycopg.ClientCursor(conn).execute(
            f"SELECT * FROM guests WHERE email = '{EMAIL}' AND phone = '{PHONE}'")
    url = _start(exporters, tracker_dsn, **FAST_REPORTING)
    advisor = exporters[0].advisor
    assert advisor is not None
    wait_until(lambda: advisor.latest is not None, timeout=60, what="the first advisor run")
    bodies = [http_get(url + "/metrics")[2], http_get(url + "/metrics")[2]]
    status, _, queries = http_get(url + "/queries?limit=5000")
    assert status == 200
    bodies += [queries, http_get(url + "/health/full")[2]]
    texts = {e["text"] for e in json.loads(queries)["statements"]}
    # the statements are really in the report, only scrubbed
    assert "COMMENT ON TABLE guests IS $1" in texts
    assert "NOTIFY guests_changed, $1" in texts
    assert any(t.startswith("DO ") for t in texts)
    everything = b"\n".join(bodies).decode() + "\n" + caplog.text
    for secret in SECRETS:
        assert secret not in everything


def test_wedding_domains_rank_first_only_when_a_wedding_is_near(tracker_dsn: str) -> None:
    with psycopg.connect(tracker_dsn, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT pg_sleep(0.03)")  # the heavier statement, domain "other"
        for i in range(5):
            conn.execute("SELECT * FROM guests WHERE wedding_id = %s", [i + 1])
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS)

    def order() -> tuple[bool, list[str]]:
        with direct_scraper(settings) as scraper:
            report = QueryReport(settings, scraper.database, None, lambda: None, lambda: False, 10.0)
            status, payload = report({"QUERY_STRING": "limit=200"})
        assert status == 200, payload
        texts = [e["text"] for e in payload["statements"]]
        return payload["wedding_priority"], texts

    sleep, guests = "SELECT pg_sleep($1)", "SELECT * FROM guests WHERE wedding_id = $1"
    priority, texts = order()  # the demo has weddings today
    assert priority and texts.index(guests) < texts.index(sleep)
    with psycopg.connect(tracker_dsn, autocommit=True) as conn:
        conn.execute("UPDATE weddings SET wedding_date = wedding_date + 3650")
    priority, texts = order()
    assert not priority and texts.index(sleep) < texts.index(guests)


def test_regression_against_the_statements_own_earlier_mean(tracker_dsn: str) -> None:
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS,
                            statements={"text_fetch_interval_seconds": 0,
                                        "regression_min_calls": 20,
                                        "regression_min_mean_ms": 1.0})
    with direct_scraper(settings) as scraper, \
            psycopg.connect(tracker_dsn, autocommit=True) as conn:
        collect(scraper)
        for delay in (0.0, 0.0, 0.0, 0.0, 0.004):
            for _ in range(25):
                conn.execute("SELECT pg_sleep(%s)", [delay])
            # Each window is closed on its own only once the statement is classified (its
            # counters are held back until then, and classification runs in the background).
            collect_settled(scraper)
        collector = scraper.collectors[0]
        report = QueryReport(settings, scraper.database, collector,  # type: ignore[arg-type]
                             lambda: None, lambda: True, 10.0)
        status, payload = report({})
    assert status == 200
    entry = _by_text(payload)["SELECT pg_sleep($1)"]
    found = [f for f in entry["findings"] if f["kind"] == "regression"]
    assert found and found[0]["recent_mean_ms"] >= 4 and found[0]["earlier_mean_ms"] < 1
    # wedding day: the slow threshold is 50% stricter
    assert payload["wedding_day"] is True and payload["slow_threshold_ms"] == 250.0


def test_report_needs_the_token_and_explains_a_missing_extension(
        pg_server: PostgresServer, exporters: list[Exporter]) -> None:
    dsn = pg_server.create_database("report_no_pgss")
    url = _start(exporters, dsn, web={"auth_token": "s3cret-token"},
                 statements={"advisor": {"enabled": False}})
    status, body = get_json(url + "/queries")
    assert status == 401
    status, body = get_json(url + "/queries", {"Authorization": "Bearer s3cret-token"})
    assert status == 503 and "shared_preload_libraries" in body["error"]
    status, body = get_json(url + "/queries?limit=zero",
                            {"Authorization": "Bearer s3cret-token"})
    assert status == 400
