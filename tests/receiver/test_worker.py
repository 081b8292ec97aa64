"""The outbox worker, in-process, against real PostgreSQL and local Twilio/SMTP servers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from flask.testing import FlaskClient

from receiver.app import create_app
from receiver.settings import Settings, load_settings
from receiver.worker import Worker

from ..support.polling import wait_until
from ..support.ports import free_port
from ..support.postgres import PostgresServer
from ..support.receiver_stack import ALICE, BOB, TOKEN, make_policy, receiver_env, write_policy
from ..support.smtp_sink import SmtpSink
from ..support.twilio_sink import TwilioSink
from ..support.vendor_data import TODAY_IN_ORDER, create_vendor_database
from .conftest import close_app
from .payloads import body, firing, resolved

Conn = psycopg.Connection[tuple[object, ...]]
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def vendor_dsn(pg_server: PostgresServer, receiver_dsn: str) -> str:
    dsn = pg_server.create_database(receiver_dsn.rsplit("/", 1)[1] + "_vendors")
    create_vendor_database(dsn)
    return dsn


def _settings(receiver_dsn: str, policy_path: str, sms: TwilioSink, smtp_url: str,
              **extra: str) -> Settings:
    return load_settings(receiver_env(receiver_dsn, policy_path, sms_base_url=sms.base_url,
                                      smtp_url=smtp_url, **extra))


@pytest.fixture
def live(receiver_dsn: str, policy_path: str, sms: TwilioSink, smtp: SmtpSink,
         vendor_dsn: str) -> Iterator[tuple[FlaskClient, Worker]]:
    settings = _settings(receiver_dsn, policy_path, sms, smtp.url,
                         RECEIVER_VENDOR_DATABASE_URL=vendor_dsn)
    client, worker = create_app(settings).test_client(), Worker(settings)
    yield client, worker
    _close(client, worker)


def _close(client: FlaskClient, worker: Worker) -> None:
    close_app(client.application)
    worker.db.close()


def _drain(worker: Worker) -> None:
    while worker.run_once():
        pass


def _alert(client: FlaskClient, fingerprint: str = "a1b2c3d4e5f60718", **labels: str) -> int:
    response = client.post("/api/v1/alerts", data=body(firing(fingerprint, **labels)),
                           content_type="application/json", headers=BEARER)
    assert response.status_code == 200 and response.json is not None
    return int(response.json["incidents"][0])


def test_pages_go_out_as_twilio_requests_and_email_with_masked_audit(
        live: tuple[FlaskClient, Worker], sms: TwilioSink, smtp: SmtpSink, sql: Conn,
        caplog: pytest.LogCaptureFixture) -> None:
    client, worker = live
    caplog.set_level(logging.DEBUG, logger="receiver")
    incident = _alert(client)
    _drain(worker)
    [text] = sms.messages_to(ALICE["phone"])
    assert text.path == "/2010-04-01/Accounts/ACtest/Messages.json"
    assert text.auth == ("ACtest", "sms-secret") and text.sender == "+15005550006"
    assert f"incident {incident}" in text.body and "WEDDING DAY" in text.body
    [mail] = smtp.messages_to(ALICE["email"])
    assert "PostgresReplicationLagHigh" in mail["Subject"]
    rows = sql.execute("SELECT channel, status, provider_id IS NOT NULL FROM receiver_outbox"
                       " ORDER BY channel").fetchall()
    assert rows == [("email", "sent", True), ("sms", "sent", True)]
    attempts = sql.execute("SELECT channel, recipient_masked, outcome FROM"
                           " receiver_notification_attempts ORDER BY channel").fetchall()
    assert attempts == [("email", "a***@w***.example", "sent"), ("sms", "+44********01", "sent")]
    audit = cast(list[tuple[str]], sql.execute("SELECT detail::text FROM receiver_audit_events").fetchall())
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("receiver"))
    assert "sent to +44********01" in ours
    for secret in (ALICE["phone"], ALICE["email"]):
        assert secret not in ours
        assert not any(secret in row[0] for row in audit)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'dbhealth_receiver_notifications_sent_total{channel="sms"} 1.0' in metrics
    assert 'dbhealth_receiver_outbox_depth{channel="sms"} 0.0' in metrics


def test_tier2_pages_when_due_unless_acknowledged(live: tuple[FlaskClient, Worker],
                                                  sms: TwilioSink, sql: Conn) -> None:
    client, worker = live
    ignored = _alert(client, "00000000000000a1")
    acked = _alert(client, "00000000000000a2")
    _drain(worker)
    assert client.post(f"/api/v1/incidents/{acked}/ack", headers=BEARER).status_code == 200
    # Let the clock reach tier 2 of both incidents (tier 3 stays in the future).
    sql.execute("UPDATE receiver_escalation_steps SET due_at = now() WHERE tier = 2")
    _drain(worker)
    bob = [m.body for m in sms.messages_to(BOB["phone"])]
    assert len(bob) == 1 and f"incident {ignored}, tier 2" in bob[0]
    assert sql.execute("SELECT incident_id, status FROM receiver_escalation_steps WHERE tier = 2"
                       " ORDER BY incident_id").fetchall() == [(ignored, "done"),
                                                               (acked, "cancelled")]


def test_transient_sms_failures_retry_with_backoff(live: tuple[FlaskClient, Worker],
                                                   sms: TwilioSink, sql: Conn) -> None:
    client, worker = live
    sms.fail_next = [503, 429]
    _alert(client)

    def sent() -> bool:
        worker.run_once()
        return bool(sms.messages_to(ALICE["phone"]))

    wait_until(sent, what="the SMS after two retryable failures")
    outcomes = sql.execute("SELECT outcome FROM receiver_notification_attempts"
                           " WHERE channel = 'sms' ORDER BY id").fetchall()
    assert [o for (o,) in outcomes] == ["retry", "retry", "sent"]


def test_permanent_sms_failure_is_dead_lettered(live: tuple[FlaskClient, Worker],
                                                sms: TwilioSink, sql: Conn) -> None:
    client, worker = live
    sms.fail_next = [400]
    _alert(client)
    _drain(worker)
    assert sql.execute("SELECT status, attempts, last_error FROM receiver_outbox"
                       " WHERE channel = 'sms'").fetchone() == ("dead", 1,
                                                                "SMS API answered HTTP 400")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'dbhealth_receiver_notifications_dead_lettered_total{channel="sms"} 1.0' in metrics


def test_smtp_down_messages_wait_then_all_arrive(receiver_dsn: str, policy_path: str,
                                                 sms: TwilioSink, sql: Conn) -> None:
    smtp = SmtpSink()  # port reserved, server not started yet: SMTP is "down"
    settings = _settings(receiver_dsn, policy_path, sms, smtp.url)
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        for fingerprint in ("00000000000000b1", "00000000000000b2"):
            _alert(client, fingerprint)

        def retried_twice() -> bool:
            worker.run_once()
            row = sql.execute("SELECT min(attempts) FROM receiver_outbox"
                              " WHERE channel = 'email'").fetchone()
            return row is not None and int(row[0]) >= 2  # type: ignore[call-overload]

        wait_until(retried_twice, what="email retries while SMTP is down")
        assert sql.execute("SELECT DISTINCT status FROM receiver_outbox"
                           " WHERE channel = 'email'").fetchall() == [("pending",)]
        smtp.start()

        def delivered() -> bool:
            worker.run_once()
            return len(smtp.messages_to(ALICE["email"])) >= 2

        wait_until(delivered, what="queued email after SMTP returns")
        _drain(worker)
        assert len(smtp.messages_to(ALICE["email"])) == 2
        assert sql.execute("SELECT count(*) FROM receiver_outbox WHERE status <> 'sent'"
                           ).fetchone() == (0,)
    finally:
        smtp.stop()
        _close(client, worker)


def test_stale_page_is_expired_and_next_tier_brought_forward(
        live: tuple[FlaskClient, Worker], sms: TwilioSink, sql: Conn) -> None:
    client, worker = live
    _alert(client)
    sql.execute("UPDATE receiver_outbox SET created_at = now() - interval '1 hour',"
                " expires_at = now() - interval '45 minutes'")
    _drain(worker)
    assert not sms.messages_to(ALICE["phone"]), "a page an hour late is not sent"
    assert sql.execute("SELECT DISTINCT outcome FROM receiver_notification_attempts"
                       " WHERE outbox_id IN (SELECT id FROM receiver_outbox WHERE tier = 1)"
                       ).fetchall() == [("expired",)]
    assert len(sms.messages_to(BOB["phone"])) == 1, "tier 2 paged instead"


def test_vendors_with_weddings_today_are_told_once_soonest_first(
        live: tuple[FlaskClient, Worker], sms: TwilioSink, sql: Conn) -> None:
    client, worker = live
    _alert(client, "00000000000000c1", impact="customer")
    _drain(worker)
    vendor_texts = [m for m in sms.received if m.to.startswith("+4477009001")]
    assert [m.to for m in vendor_texts] == TODAY_IN_ORDER
    for text in vendor_texts:
        for internal in ("Postgres", "db-1", "incident", "Replica", "runbook"):
            assert internal not in text.body
    assert "11:00" in vendor_texts[0].body
    _alert(client, "00000000000000c2", impact="customer")  # a second customer-facing alert
    _drain(worker)
    assert [m.to for m in sms.received if m.to.startswith("+4477009001")] == TODAY_IN_ORDER
    detail = cast(list[tuple[dict[str, Any]]], sql.execute(
        "SELECT detail FROM receiver_audit_events WHERE event = 'escalation.vendors' ORDER BY id"
    ).fetchall())
    assert [(d["notified"], d["rate_limited"]) for (d,) in detail] == [(3, 0), (0, 3)]


def test_vendor_source_down_retries_the_step(receiver_dsn: str, tmp_path: Path,
                                             sms: TwilioSink, sql: Conn) -> None:
    # A backoff longer than one worker pass on a loaded machine: retried later, not now.
    policy = make_policy()
    policy["delivery"]["retry_base_seconds"] = 30
    policy["delivery"]["retry_max_seconds"] = 60
    policy_path = write_policy(policy, tmp_path)
    settings = _settings(receiver_dsn, policy_path, sms, "smtp://127.0.0.1:9",
                         RECEIVER_VENDOR_DATABASE_URL=f"postgresql://x@127.0.0.1:{free_port()}/x")
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        _alert(client, impact="customer")
        worker.run_once()
        assert sql.execute("SELECT status, attempts, due_at > now() FROM"
                           " receiver_escalation_steps WHERE kind = 'vendors'").fetchone() == (
            "pending", 1, True)
    finally:
        _close(client, worker)


def test_vendors_are_told_from_the_snapshot_when_wedsync_is_down_and_told_when_fixed(
        receiver_dsn: str, policy_path: str, sms: TwilioSink, smtp: SmtpSink, vendor_dsn: str,
        sql: Conn) -> None:
    # The roster is snapshotted while the WedSync database is up...
    healthy = _settings(receiver_dsn, policy_path, sms, smtp.url,
                        RECEIVER_VENDOR_DATABASE_URL=vendor_dsn)
    refresher = Worker(healthy)
    try:
        assert refresher.refresh_roster_once()
        assert not refresher.refresh_roster_once(), "not due again for roster_refresh_seconds"
    finally:
        refresher.db.close()
    # ...then the incident is that database going away.
    down = _settings(receiver_dsn, policy_path, sms, smtp.url,
                     RECEIVER_VENDOR_DATABASE_URL=f"postgresql://x@127.0.0.1:{free_port()}/x")
    client, worker = create_app(down).test_client(), Worker(down)
    try:
        payload = firing("00000000000000d9", impact="customer")
        response = client.post("/api/v1/alerts", data=body(payload),
                               content_type="application/json", headers=BEARER)
        assert response.status_code == 200
        _drain(worker)
        told = [m.to for m in sms.received if m.to.startswith("+4477009001")]
        assert told == TODAY_IN_ORDER
        [(detail,)] = cast(list[tuple[dict[str, Any]]], sql.execute(
            "SELECT detail FROM receiver_audit_events WHERE event = 'escalation.vendors'").fetchall())
        assert detail["source"] == "snapshot" and detail["notified"] == 3
        metrics = client.get("/metrics").get_data(as_text=True)
        assert "dbhealth_receiver_vendor_roster_vendors 3.0" in metrics
        client.post("/api/v1/alerts", data=body(resolved(payload)),
                    content_type="application/json", headers=BEARER)
        _drain(worker)
        fixed = [m for m in sms.received if m.to.startswith("+4477009001") and "are fixed" in m.body]
        assert sorted(m.to for m in fixed) == sorted(TODAY_IN_ORDER), "each vendor told once"
    finally:
        _close(client, worker)


def test_emergency_level_also_posts_json_webhooks(receiver_dsn: str, tmp_path: Path,
                                                  sms: TwilioSink, smtp: SmtpSink) -> None:
    policy = make_policy(levels={"emergency": {"tiers": 1, "channels": ["webhook", "sms"]}})
    policy["contacts"][0]["webhook_url"] = f"{sms.base_url}/hooks/incidents"
    settings = _settings(receiver_dsn, write_policy(policy, tmp_path), sms, smtp.url)
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        incident = _alert(client)
        _drain(worker)
        [(path, document)] = sms.json_posts
        assert path == "/hooks/incidents"
        assert document["kind"] == "page" and document["incident_id"] == incident
        assert document["level"] == "emergency" and "WEDDING DAY" in str(document["text"])
    finally:
        _close(client, worker)


def test_starttls_required_but_not_offered_keeps_mail_queued(
        receiver_dsn: str, policy_path: str, sms: TwilioSink, smtp: SmtpSink,
        sql: Conn) -> None:
    settings = _settings(receiver_dsn, policy_path, sms, smtp.url,
                         RECEIVER_SMTP_STARTTLS="required")
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        _alert(client)
        _drain(worker)
        assert smtp.received == [], "never falls back to plaintext"
        assert sql.execute("SELECT status, last_error FROM receiver_outbox WHERE channel ="
                           " 'email'").fetchone() == (
            "pending", "SMTP server does not offer STARTTLS (required by settings)")
    finally:
        _close(client, worker)


def test_the_external_status_page_hears_when_customers_are_hit_and_when_it_is_over(
        receiver_dsn: str, tmp_path: Path, sms: TwilioSink, smtp: SmtpSink) -> None:
    policy = make_policy(status_page={"webhook_url": f"{sms.base_url}/statuspage/components/db",
                                      "messages": {"PostgresReplicationLagHigh":
                                                   "Guest lists may be slow to update."}})
    settings = _settings(receiver_dsn, write_policy(policy, tmp_path), sms, smtp.url)
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        _alert(client, "00000000000000a1")                       # internal: not public
        payload = firing("00000000000000b2", impact="customer")
        client.post("/api/v1/alerts", data=body(payload), content_type="application/json",
                    headers=BEARER)
        _drain(worker)
        client.post("/api/v1/alerts", data=body(resolved(payload)),
                    content_type="application/json", headers=BEARER)
        _drain(worker)
        assert [(path, doc["component"]) for path, doc in sms.json_posts] == [
            ("/statuspage/components/db", {"status": "major_outage",
                                           "description": "Guest lists may be slow to update."}),
            ("/statuspage/components/db", {"status": "operational",
                                           "description": "Guest lists may be slow to update."})]
        assert "PostgresReplicationLagHigh" not in str(sms.json_posts)
    finally:
        _close(client, worker)


COUPLE = "+447700900999"  # the vendor database's couple, married today (three ceremonies)


def test_couples_hear_once_a_day_and_once_when_fixed_however_many_incidents(
        receiver_dsn: str, tmp_path: Path, sms: TwilioSink, smtp: SmtpSink, vendor_dsn: str,
        sql: Conn) -> None:
    policy = make_policy(couples={"enabled": True, "after_seconds": 0})
    settings = _settings(receiver_dsn, write_policy(policy, tmp_path), sms, smtp.url,
                         RECEIVER_VENDOR_DATABASE_URL=vendor_dsn)
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        assert worker.refresh_roster_once()
        assert sql.execute("SELECT count(*) FROM receiver_couple_roster"
                           " WHERE local_date = current_date").fetchone() == (1,)
        first = firing("00000000000000c1", impact="customer")
        second = firing("00000000000000c2", impact="customer")
        for payload in (first, second):
            client.post("/api/v1/alerts", data=body(payload), content_type="application/json",
                        headers=BEARER)
            _drain(worker)
        told = [m for m in sms.received if m.to == COUPLE]
        assert len(told) == 1 and "your wedding goes ahead as planned" in told[0].body
        for internal in ("Postgres", "db-1", "incident", "Replica", "runbook"):
            assert internal not in told[0].body
        details = [cast(dict[str, Any], d) for (d,) in sql.execute(
            "SELECT detail FROM receiver_audit_events WHERE event = 'escalation.couples'"
            " ORDER BY id")]
        assert [(d["notified"], d["already_told_today"]) for d in details] == [(1, 0), (0, 1)]
        for payload in (first, second):
            client.post("/api/v1/alerts", data=body(resolved(payload)),
                        content_type="application/json", headers=BEARER)
            _drain(worker)
        fixed = [m for m in sms.received if m.to == COUPLE and "are fixed" in m.body]
        assert len(fixed) == 1 and len([m for m in sms.received if m.to == COUPLE]) == 2
    finally:
        _close(client, worker)


def test_couples_are_not_told_of_an_incident_fixed_before_it_lasted(
        receiver_dsn: str, tmp_path: Path, sms: TwilioSink, smtp: SmtpSink, vendor_dsn: str,
        sql: Conn) -> None:
    policy = make_policy(couples={"enabled": True, "after_seconds": 3600})
    settings = _settings(receiver_dsn, write_policy(policy, tmp_path), sms, smtp.url,
                         RECEIVER_VENDOR_DATABASE_URL=vendor_dsn)
    client, worker = create_app(settings).test_client(), Worker(settings)
    try:
        payload = firing("00000000000000c3", impact="customer")
        client.post("/api/v1/alerts", data=body(payload), content_type="application/json",
                    headers=BEARER)
        _drain(worker)
        client.post("/api/v1/alerts", data=body(resolved(payload)),
                    content_type="application/json", headers=BEARER)
        _drain(worker)
        assert [m for m in sms.received if m.to == COUPLE] == []
        assert sql.execute("SELECT status FROM receiver_escalation_steps WHERE kind = 'couples'"
                           ).fetchall() == [("cancelled",)]
    finally:
        _close(client, worker)
