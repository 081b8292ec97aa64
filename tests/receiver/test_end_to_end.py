"""End to end: real Alertmanager → receiver under gunicorn (via its CLI) → worker → SMS/SMTP sinks.

Delays are seconds (tier 2 after 12 s, 6 s on a wedding day) and every wait is a
poll with a deadline on an observable condition.
"""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psycopg
import pytest

from receiver.migrate import migrate

from ..support.alertmanager import Alertmanager, iso
from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from ..support.receiver_stack import (
    ALICE,
    BOB,
    TOKEN,
    Gunicorn,
    Worker,
    make_policy,
    receiver_env,
    write_policy,
)
from ..support.smtp_sink import SmtpSink
from ..support.twilio_sink import TwilioSink
from ..support.vendor_data import TODAY_IN_ORDER, create_vendor_database
from .payloads import body, firing

pytestmark = pytest.mark.slow
E2E_TIERS = [
    {"name": "on-call", "after_seconds": 0, "contacts": ["alice"]},
    {"name": "secondary", "after_seconds": 12, "contacts": ["bob"]},
    {"name": "emergency", "after_seconds": 600, "contacts": ["carol"]},
]


@dataclass
class Stack:
    dsn: str
    env: dict[str, str]
    sms: TwilioSink
    smtp: SmtpSink
    gunicorn: Gunicorn
    alertmanager: Alertmanager

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def incident(self, test: str) -> int | None:
        rows = self.sql("SELECT i.id FROM receiver_incidents i JOIN receiver_alerts a"
                        " ON a.id = i.alert_id WHERE a.labels->>'test' = %s", test)
        return int(rows[0][0]) if rows else None

    def sms_for(self, number: str, incident: int) -> list[str]:
        return [m.body for m in self.sms.messages_to(number) if f"incident {incident}," in m.body]


def alert(test: str, impact: str = "internal", **annotations: str) -> dict[str, Any]:
    return {"labels": {"alertname": "PostgresDown", "severity": "critical", "test": test,
                       "impact": impact},
            "annotations": {"summary": "primary is down", "wedding_day": "true", **annotations},
            "startsAt": iso(datetime.now(UTC))}


def http_post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ack(stack: Stack, incident: int) -> dict[str, Any]:
    status, answer = http_post(f"{stack.gunicorn.url}/api/v1/incidents/{incident}/ack",
                               b'{"by": "alice"}', {"Authorization": f"Bearer {TOKEN}",
                                                    "Content-Type": "application/json"})
    assert status == 200
    return dict(answer)


@pytest.fixture(scope="module")
def stack(pg_server: PostgresServer) -> Iterator[Stack]:
    dsn = pg_server.create_database("receiver_e2e")
    migrate(dsn, progress=lambda _msg: None)
    vendor_dsn = pg_server.create_database("receiver_e2e_vendors")
    create_vendor_database(vendor_dsn)
    sms, smtp = TwilioSink(), SmtpSink()
    sms.start()
    smtp.start()
    env = receiver_env(dsn, write_policy(make_policy(tiers=E2E_TIERS)), sms_base_url=sms.base_url,
                       smtp_url=smtp.url, RECEIVER_VENDOR_DATABASE_URL=vendor_dsn)
    gunicorn, worker = Gunicorn(env, workers=2), Worker(env)
    alertmanager = Alertmanager(f"{gunicorn.url}/api/v1/alerts", bearer=TOKEN)
    started: list[Any] = []
    try:
        for process in (gunicorn, worker, alertmanager):
            process.start()
            started.append(process)
        yield Stack(dsn, env, sms, smtp, gunicorn, alertmanager)
    finally:
        for process in reversed(started):
            process.stop()
        sms.stop()
        smtp.stop()


def test_wedding_day_alert_pages_tier1_at_once_tier2_after_delay_and_ack_stops_it(
        stack: Stack) -> None:
    stack.alertmanager.push([alert("escalate"), alert("acked")])
    escalate = wait_until(lambda: stack.incident("escalate"), what="incident from Alertmanager")
    acked = wait_until(lambda: stack.incident("acked"), what="second incident")
    for incident in (escalate, acked):
        wait_until(partial(stack.sms_for, ALICE["phone"], incident), what="tier-1 SMS")
    answer = ack(stack, acked)
    assert answer["state"] == "acknowledged" and answer["cancelled_steps"] == 2
    [tier2] = wait_until(lambda: stack.sms_for(BOB["phone"], escalate), timeout=30,
                         what="tier-2 SMS after the (halved) delay")
    assert "tier 2" in tier2
    # The sink has it; the worker records the outcome just after.
    wait_until(lambda: stack.sql("SELECT 1 FROM receiver_outbox WHERE incident_id = %s"
                                 " AND tier = 2 AND sent_at IS NOT NULL", escalate),
               what="tier 2 recorded as sent")
    # Tier 1 went out before tier 2 was even due; tier 2 not before its time.
    [(tier1_sent, tier2_due, tier2_sent)] = stack.sql(
        "SELECT (SELECT max(sent_at) FROM receiver_outbox WHERE incident_id = %s AND tier = 1),"
        " (SELECT due_at FROM receiver_escalation_steps WHERE incident_id = %s AND tier = 2),"
        " (SELECT min(sent_at) FROM receiver_outbox WHERE incident_id = %s AND tier = 2)",
        escalate, escalate, escalate)
    assert tier1_sent < tier2_due <= tier2_sent
    assert (tier2_due - stack.sql("SELECT opened_at FROM receiver_incidents WHERE id = %s",
                                  escalate)[0][0]).total_seconds() == pytest.approx(6, abs=0.01)
    assert stack.sms_for(BOB["phone"], acked) == []
    assert stack.sql("SELECT status FROM receiver_escalation_steps WHERE incident_id = %s"
                     " AND tier = 2", acked) == [("cancelled",)]


def test_alertmanager_ha_pair_and_replayed_post_page_once(stack: Stack) -> None:
    twin = Alertmanager(f"{stack.gunicorn.url}/api/v1/alerts", bearer=TOKEN)
    twin.start()
    try:
        same = alert("ha-pair")
        stack.alertmanager.push([same])
        twin.push([same])
        wait_until(lambda: stack.sql("SELECT receive_count FROM receiver_alerts"
                                     " WHERE labels->>'test' = 'ha-pair'") == [(2,)],
                   what="both replicas' deliveries recorded")
    finally:
        twin.stop()
    incident = stack.incident("ha-pair")
    assert incident is not None
    replay = firing("00000000000000e1")
    status, first = http_post(f"{stack.gunicorn.url}/api/v1/alerts", body(replay),
                              {"Authorization": f"Bearer {TOKEN}",
                               "Content-Type": "application/json"})
    status2, second = http_post(f"{stack.gunicorn.url}/api/v1/alerts", body(replay),
                                {"Authorization": f"Bearer {TOKEN}",
                                 "Content-Type": "application/json"})
    assert (status, status2) == (200, 200) and second["incidents"] == []
    for pager in (incident, first["incidents"][0]):
        def delivered(p: int = pager) -> bool:
            return stack.sql(
                "SELECT count(*) FROM receiver_outbox WHERE incident_id = %s AND status = 'sent'",
                p) == [(2,)]

        wait_until(delivered, what="tier-1 SMS and email delivered")
        assert len(stack.sms_for(ALICE["phone"], pager)) == 1
        assert len([m for m in stack.smtp.messages_to(ALICE["email"])
                    if f"(incident {pager})" in m["Subject"]]) == 1


def test_customer_impact_tells_todays_vendors_once(stack: Stack) -> None:
    stack.alertmanager.push([alert("vendors-1", "customer",
                                   customer_message="Guest lists may not load."),
                             alert("vendors-2", "customer")])
    for test in ("vendors-1", "vendors-2"):
        def vendor_step_done(t: str = test) -> bool:
            return stack.sql(
                "SELECT s.status FROM receiver_escalation_steps s JOIN receiver_incidents i"
                " ON i.id = s.incident_id JOIN receiver_alerts a ON a.id = i.alert_id"
                " WHERE s.kind = 'vendors' AND a.labels->>'test' = %s", t) == [("done",)]

        wait_until(vendor_step_done, what="vendor step done")
    wait_until(lambda: stack.sql("SELECT count(*) FROM receiver_outbox WHERE kind = 'vendor'"
                                 " AND status = 'pending'") == [(0,)], what="vendor texts sent")
    texts = [m for m in stack.sms.received if m.to.startswith("+4477009001")]
    assert sorted(m.to for m in texts) == sorted(TODAY_IN_ORDER)
    assert all("Guest lists may not load." in m.body or "engineers" in m.body for m in texts)


def test_gunicorn_worker_killed_mid_request_loses_nothing(stack: Stack) -> None:
    with psycopg.connect(stack.dsn) as blocker:
        # Hold inserts into the inbox so the webhook request is provably in flight.
        blocker.execute("LOCK TABLE receiver_webhook_inbox IN SHARE MODE")
        stack.alertmanager.push([alert("killed")])

        def waiting_worker_pid() -> int | None:
            with psycopg.connect(stack.dsn, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND application_name ~ '^dbhealth-receiver-[0-9]+$'").fetchall()
            return int(rows[0][0].rsplit("-", 1)[1]) if rows else None

        pid = wait_until(waiting_worker_pid, what="a gunicorn worker blocked mid-request")
        os.kill(pid, signal.SIGKILL)
        blocker.rollback()
    wait_until(lambda: stack.incident("killed"), timeout=30,
               what="Alertmanager's retry to be recorded")
    incident = stack.incident("killed")
    assert incident is not None
    wait_until(lambda: stack.sms_for(ALICE["phone"], incident), what="tier-1 SMS")
    assert stack.sql("SELECT receive_count FROM receiver_alerts WHERE labels->>'test' = 'killed'"
                     ) == [(1,)]
    assert stack.sql("SELECT count(*) FROM receiver_webhook_inbox"
                     " WHERE payload::text LIKE '%%\"killed\"%%'") == [(1,)]
    assert len(stack.sms_for(ALICE["phone"], incident)) == 1


def test_smtp_down_mail_waits_in_outbox_and_arrives_when_it_returns(stack: Stack) -> None:
    stack.smtp.stop()
    try:
        stack.alertmanager.push([alert("smtp-down")])
        incident = wait_until(lambda: stack.incident("smtp-down"), what="incident")
        # Alice's (tier 1) email only: on a slow run tier 2 comes due while SMTP is still down.
        wait_until(lambda: stack.sql("SELECT status, attempts >= 2 FROM receiver_outbox"
                                     " WHERE incident_id = %s AND channel = 'email'"
                                     " AND recipient = %s", incident, ALICE["email"])
                   == [("pending", True)], what="email retried while SMTP is down")
        assert stack.sms_for(ALICE["phone"], incident), "SMS is not held up by SMTP"
    finally:
        stack.smtp.start()
    wait_until(lambda: [m for m in stack.smtp.messages_to(ALICE["email"])
                        if f"(incident {incident})" in m["Subject"]], timeout=30,
               what="queued email delivered after SMTP returns")
    assert stack.sql("SELECT status FROM receiver_outbox WHERE incident_id = %s"
                     " AND channel = 'email' AND recipient = %s", incident,
                     ALICE["email"]) == [("sent",)]
    # nothing is left behind: every email of the incident went out once SMTP was back
    wait_until(lambda: {status for (status,) in stack.sql(
        "SELECT status FROM receiver_outbox WHERE incident_id = %s AND channel = 'email'",
        incident)} == {"sent"}, timeout=30, what="every queued email sent")


def test_resolution_stops_escalation_and_tells_those_paged(stack: Stack) -> None:
    firing_alert = alert("resolves")
    stack.alertmanager.push([firing_alert])
    incident = wait_until(lambda: stack.incident("resolves"), what="incident")
    wait_until(lambda: stack.sms_for(ALICE["phone"], incident), what="tier-1 SMS")
    stack.alertmanager.push([{**firing_alert, "endsAt": iso(datetime.now(UTC))}])
    resolved_texts = wait_until(lambda: [m.body for m in stack.sms.messages_to(ALICE["phone"])
                                         if m.body.startswith("[RESOLVED]")
                                         and f"(incident {incident})" in m.body],
                                what="the resolved SMS")
    assert len(resolved_texts) == 1
    assert stack.sql("SELECT state FROM receiver_incidents WHERE id = %s", incident) == [
        ("resolved",)]
    assert stack.sql("SELECT DISTINCT status FROM receiver_escalation_steps"
                     " WHERE incident_id = %s", incident) == [("cancelled",)]
    assert stack.sms_for(BOB["phone"], incident) == []
    # Counters come from the database, so any gunicorn worker reports the same totals.
    with urllib.request.urlopen(f"{stack.gunicorn.url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    [(webhooks,)] = stack.sql("SELECT count(*) FROM receiver_webhook_inbox")
    assert f"dbhealth_receiver_webhooks_received_total {float(webhooks)}" in metrics


def test_live_server_answers_bad_requests_with_4xx(stack: Stack) -> None:
    url = f"{stack.gunicorn.url}/api/v1/alerts"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    wrong_version = firing()
    wrong_version["version"] = "5"
    cases = [
        (body(firing()), {"Content-Type": "application/json"}, 401),
        (body(firing()), {**auth, "Content-Type": "text/plain"}, 415),
        (b"{", {**auth, "Content-Type": "application/json"}, 400),
        (body(wrong_version), {**auth, "Content-Type": "application/json"}, 422),
    ]
    for data, headers, expected in cases:
        status, answer = http_post(url, data, headers)
        assert (status, "error" in answer) == (expected, True)


def test_database_down_answers_503_and_alertmanager_retry_lands(tmp_path: Any) -> None:
    server = PostgresServer()
    server.start()
    dsn = server.create_database("receiver")
    migrate(dsn, progress=lambda _msg: None)
    env = receiver_env(dsn, write_policy(make_policy(), tmp_path))
    gunicorn = Gunicorn(env, workers=1)
    alertmanager = Alertmanager(f"{gunicorn.url}/api/v1/alerts", bearer=TOKEN)
    try:
        gunicorn.start()
        alertmanager.start()
        server.stop()
        status, answer = http_post(f"{gunicorn.url}/api/v1/alerts", body(firing()),
                                   {"Authorization": f"Bearer {TOKEN}",
                                    "Content-Type": "application/json"})
        assert status == 503 and answer["error"] == "database_unavailable"
        alertmanager.push([alert("db-down")])
        failed_requests = "alertmanager_notification_requests_failed_total"
        wait_until(lambda: alertmanager.metric(failed_requests) > 0, timeout=30,
                   what="Alertmanager to get a 503 for its request")
        server.start()

        def recorded() -> bool:
            with psycopg.connect(dsn, autocommit=True) as conn:
                return conn.execute("SELECT count(*) FROM receiver_alerts WHERE"
                                    " labels->>'test' = 'db-down'").fetchone() == (1,)

        wait_until(recorded, timeout=60, what="Alertmanager's retry after the database returns")
        assert re.search(r"receiver database unavailable", gunicorn.logs())
    finally:
        alertmanager.stop()
        gunicorn.stop()
        server.destroy()
