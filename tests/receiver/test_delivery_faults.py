"""Delivery under provider faults, with the real worker, PostgreSQL and misbehaving sinks.

The SMS sink answers per a script (slow, dripping, 401, 429 with Retry-After,
accept-then-close); the SMTP sink can be slow or refuse a recipient. What the
tests assert is what reaches the sinks: counts, order, and times measured here.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from demo.sinks import Misbehave
from receiver.app import create_app
from receiver.settings import load_settings
from receiver.worker import Worker

from ..support.polling import wait_until
from ..support.receiver_stack import ALICE, BOB, TOKEN, make_policy, receiver_env, write_policy
from ..support.receiver_stack import Worker as WorkerProcess
from ..support.smtp_sink import SmtpSink
from ..support.twilio_sink import TwilioSink
from .conftest import close_app
from .payloads import body, firing

Conn = psycopg.Connection[tuple[object, ...]]
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SLOW_TIERS = [{"name": "on-call", "after_seconds": 0, "contacts": ["alice"]},
              {"name": "secondary", "after_seconds": 600, "contacts": ["bob"]}]


class Live:
    def __init__(self, dsn: str, sms: TwilioSink, smtp: SmtpSink, tmp: Any, **policy: Any):
        self.env = receiver_env(dsn, write_policy(make_policy(**policy), tmp),
                                sms_base_url=sms.base_url, smtp_url=smtp.url)
        settings = load_settings(self.env)
        self.client: FlaskClient = create_app(settings).test_client()
        self.worker = Worker(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def alert(self, payload: dict[str, Any]) -> int:
        response = self.client.post("/api/v1/alerts", data=body(payload),
                                    content_type="application/json", headers=BEARER)
        assert response.status_code == 200 and response.json is not None, response.json
        return int(response.json["incidents"][0]) if response.json["incidents"] else 0

    def run(self) -> None:
        self._thread = threading.Thread(target=self.worker.run_forever, args=(self._stop,))
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        close_app(self.client.application)
        self.worker.db.close()


@pytest.fixture
def live_factory(receiver_dsn: str, sms: TwilioSink, smtp: SmtpSink,
                 tmp_path: Any) -> Iterator[Any]:
    made: list[Live] = []

    def make(**policy: Any) -> Live:
        made.append(Live(receiver_dsn, sms, smtp, tmp_path, **policy))
        return made[-1]

    yield make
    for live in made:
        live.close()


def _rows(sql: Conn, query: str, *params: Any) -> list[tuple[Any, ...]]:
    return sql.execute(query, params).fetchall()


def test_slow_and_dripping_provider_is_cut_at_the_deadline_and_resent_once(
        live_factory: Any, sms: TwilioSink, smtp: SmtpSink, sql: Conn) -> None:
    live = live_factory(tiers=SLOW_TIERS)
    sms.script = [Misbehave(drip=1.0)]  # ~150 s of answer, status line included, 1 byte/s
    live.alert(firing("0000000000000d01"))
    live.run()
    started = time.monotonic()
    wait_until(lambda: _rows(sql, "SELECT 1 FROM receiver_outbox WHERE channel = 'sms'"
                                  " AND status = 'sent'"), timeout=30, what="the SMS to settle")
    assert time.monotonic() - started < 20, "the 3 s send deadline did not hold"
    assert len(sms.attempts) == 2, "one blind re-send after an unanswered request, no more"
    assert [m["To"] for m in smtp.received] == [ALICE["email"]]  # email never waited for SMS
    outcomes = _rows(sql, "SELECT outcome FROM receiver_notification_attempts"
                          " WHERE channel = 'sms' ORDER BY id")
    assert outcomes == [("ambiguous",), ("sent",)]
    metrics = live.client.get("/metrics").get_data(as_text=True)
    # Tier 2 is 10 minutes away: it is reported, as never reached.
    assert 'dbhealth_receiver_escalations_total{tier="1"} 1.0' in metrics
    assert 'dbhealth_receiver_escalations_total{tier="2"} 0.0' in metrics


def test_accepted_but_unanswered_is_resent_at_most_once_then_escalates(
        live_factory: Any, sms: TwilioSink, smtp: SmtpSink, sql: Conn) -> None:
    # The payload is a wedding-day critical in peak hours: level emergency.
    live = live_factory(tiers=SLOW_TIERS, levels={"emergency": {"tiers": 2, "channels": ["sms"]}})
    sms.script = [Misbehave(close=True)] * 3 + [Misbehave()]
    live.alert(firing("0000000000000d02"))
    live.run()
    # Alice's SMS: unanswered twice → dead, "possibly delivered"; tier 2 is paged at once.
    wait_until(lambda: sms.messages_to(BOB["phone"]), timeout=30, what="tier 2 brought forward")
    assert [m.to for m in sms.attempts].count(ALICE["phone"]) == 2
    [(status, error)] = _rows(sql, "SELECT status, last_error FROM receiver_outbox"
                                   " WHERE recipient_key = 'alice'")
    assert status == "dead" and "possibly delivered" in error


def test_provider_401_retries_loudly_and_an_unreachable_tier_brings_the_next_forward(
        live_factory: Any, sms: TwilioSink, smtp: SmtpSink, sql: Conn,
        caplog: pytest.LogCaptureFixture) -> None:
    live = live_factory(tiers=SLOW_TIERS)
    sms.script = [Misbehave(status=401)] * 6
    smtp.refuse = {ALICE["email"]}
    live.alert(firing("0000000000000d03"))
    live.run()
    # SMS refused through our fault, email 550: nobody in tier 1; tier 2 was 10 minutes away.
    wait_until(lambda: smtp.messages_to(BOB["email"]), timeout=30, what="tier 2 by email")
    wait_until(lambda: sms.messages_to(ALICE["phone"]), timeout=30,
               what="alice's SMS once the credential works again")
    faults = _rows(sql, "SELECT count(*) FROM receiver_notification_attempts"
                        " WHERE channel = 'sms' AND config_fault")[0][0]
    assert faults >= 1
    assert "CONFIGURATION FAULT on sms" in caplog.text
    metrics = live.client.get("/metrics").get_data(as_text=True)
    assert 'dbhealth_receiver_notification_config_faults_total{channel="sms"}' in metrics
    assert "dbhealth_receiver_escalations_brought_forward_total 1.0" in metrics
    assert 'dbhealth_receiver_escalations_total{tier="1"} 1.0' in metrics
    assert 'dbhealth_receiver_escalations_total{tier="2"} 1.0' in metrics
    assert _rows(sql, "SELECT status FROM receiver_outbox WHERE recipient_key = 'alice'"
                      " AND channel = 'email'") == [("dead",)]


def test_429_retry_after_is_honoured(live_factory: Any, sms: TwilioSink, sql: Conn) -> None:
    live = live_factory(tiers=SLOW_TIERS)
    sms.script = [Misbehave(status=429, headers=(("Retry-After", "2"),))]
    live.alert(firing("0000000000000d04"))
    live.run()
    wait_until(lambda: _rows(sql, "SELECT 1 FROM receiver_notification_attempts"
                                  " WHERE channel = 'sms' AND outcome = 'sent'"),
               timeout=20, what="the retried SMS, recorded")
    [(gap,)] = _rows(sql, "SELECT extract(epoch FROM max(attempted_at) - min(attempted_at))"
                          " FROM receiver_notification_attempts WHERE channel = 'sms'")
    assert gap >= 1.9, "our 0.2 s backoff must not override the provider's Retry-After"


def test_critical_sms_does_not_wait_behind_warning_emails_on_a_slow_relay(
        live_factory: Any, sms: TwilioSink, smtp: SmtpSink) -> None:
    live = live_factory(tiers=SLOW_TIERS)
    smtp.delay = 2.0
    for n in range(12):
        live.alert(firing(f"00000000000001{n:02d}", severity="warning"))
    live.run()
    wait_until(lambda: smtp.received, timeout=20, what="the relay to start on the backlog")
    started = time.monotonic()
    live.alert(firing("0000000000000d05"))  # critical
    wait_until(lambda: sms.messages_to(ALICE["phone"]), timeout=30, what="the critical SMS")
    took = time.monotonic() - started
    assert took < 5, f"critical SMS took {took:.1f}s behind a slow relay"
    assert len(smtp.received) < 12, "the SMS did not wait for the email backlog"


def test_one_page_per_person_for_a_thousand_alert_group(live_factory: Any, sms: TwilioSink,
                                                         smtp: SmtpSink, sql: Conn) -> None:
    live = live_factory(tiers=SLOW_TIERS)
    storm = firing("0000000000000e00")
    template = storm["alerts"][0]
    storm["alerts"] = []
    for n in range(1000):
        alert = copy.deepcopy(template)
        alert["fingerprint"] = f"{n:016x}"
        alert["labels"]["instance"] = f"db-{n}:9187"
        storm["alerts"].append(alert)
    assert len(body(storm)) < load_settings(live.env).max_body_bytes
    incident = live.alert(storm)
    live.worker.run_once()
    [text] = sms.messages_to(ALICE["phone"])
    assert text.body.startswith("[EMERGENCY] WEDDING DAY 1000 alerts, worst:")
    assert len(smtp.messages_to(ALICE["email"])) == 1
    assert _rows(sql, "SELECT count(*), max(alert_count) FROM receiver_incidents") == [(1, 1000)]
    assert f"incident {incident}," in text.body


def test_worker_killed_mid_send_sends_at_most_twice_and_dead_letters(
        receiver_dsn: str, sms: TwilioSink, smtp: SmtpSink, tmp_path: Any, sql: Conn) -> None:
    # A 10 s send deadline: the kill must land while the send is in flight, before the
    # deadline would cut it (a loaded machine can take a few seconds to deliver it).
    delivery = {"retry_base_seconds": 0.2, "retry_max_seconds": 1.0, "max_age_seconds": 600,
                "send_timeout_seconds": 10}
    env = receiver_env(receiver_dsn,
                       write_policy(make_policy(tiers=SLOW_TIERS, delivery=delivery), tmp_path),
                       sms_base_url=sms.base_url, smtp_url=smtp.url)
    sms.script = [Misbehave(delay=60)] * 10  # every send hangs until the worker is killed
    app = create_app(load_settings(env))
    app.test_client().post("/api/v1/alerts", data=body(firing("0000000000000f01")),
                           content_type="application/json", headers=BEARER)
    close_app(app)
    for kill in range(3):
        worker = WorkerProcess(env)
        worker.start()
        try:
            if kill < 2:
                def started(n: int = kill) -> bool:
                    return len(sms.messages_attempted(ALICE["phone"])) > n

                wait_until(started, timeout=45, what=f"send {kill + 1} to start")
            else:  # the third worker must not send again: the row dead-letters
                wait_until(lambda: _rows(sql, "SELECT 1 FROM receiver_outbox WHERE"
                                              " channel = 'sms' AND status = 'dead'"
                                              " AND recipient_key = 'alice'"),
                           timeout=45, what="the dead-letter")
        finally:
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait()
            worker.proc = None
            worker._log.close()
    rows = _rows(sql, "SELECT status, attempts, blind_retries, last_error FROM receiver_outbox"
                      " WHERE channel = 'sms' AND recipient_key = 'alice'")
    assert [m.to for m in sms.attempts].count(ALICE["phone"]) == 2, rows
    assert [row[:3] for row in rows] == [("dead", 2, 1)], rows
    # The kills may land on alice's email too. Possibly delivered is not known to be
    # delivered: when both her pages died, tier 2 (600 s away) is due at once; when the
    # email went out, tier 2 keeps its time.
    [(email,)] = _rows(sql, "SELECT status FROM receiver_outbox WHERE recipient_key = 'alice'"
                            " AND channel = 'email'")
    assert _rows(sql, "SELECT status = 'done' OR due_at <= now() FROM receiver_escalation_steps"
                      " WHERE kind = 'tier' AND tier = 2") == [(email == "dead",)], email


def test_a_template_that_fails_at_render_time_falls_back_to_the_default(
        live_factory: Any, sms: TwilioSink) -> None:
    live = live_factory(tiers=SLOW_TIERS, templates={"page_sms": "{{ 1 // 0 }}"})
    live.alert(firing("0000000000000f02"))
    live.worker.run_once()
    [text] = sms.messages_to(ALICE["phone"])
    assert "PostgresReplicationLagHigh" in text.body


def test_per_recipient_rate_limit_holds_messages_back_without_losing_them(
        live_factory: Any, sms: TwilioSink, sql: Conn) -> None:
    live = live_factory(tiers=SLOW_TIERS,
                        delivery={"retry_base_seconds": 0.2, "retry_max_seconds": 1.0,
                                  "max_age_seconds": 600, "send_timeout_seconds": 3,
                                  "recipient_rate_limit": 2,
                                  "recipient_rate_window_seconds": 60})
    for n in range(4):
        live.alert(firing(f"00000000000002{n:02d}"))
    live.worker.run_once()
    assert len(sms.messages_to(ALICE["phone"])) == 2
    held = _rows(sql, "SELECT count(*), bool_and(next_attempt_at > now() + interval '50 s')"
                      " FROM receiver_outbox WHERE channel = 'sms' AND status = 'pending'")
    assert held == [(2, True)], "held until the window frees, not dropped"
    # The window passes (moved in the database, not waited for).
    sql.execute("UPDATE receiver_outbox SET sent_at = sent_at - interval '61 s'"
                " WHERE status = 'sent'")
    sql.execute("UPDATE receiver_outbox SET next_attempt_at = now() WHERE status = 'pending'")
    live.worker.run_once()
    assert len(sms.messages_to(ALICE["phone"])) == 4


def test_sigterm_finishes_the_messages_in_hand_not_the_backlog(
        receiver_dsn: str, sms: TwilioSink, smtp: SmtpSink, tmp_path: Any, sql: Conn) -> None:
    env = receiver_env(receiver_dsn, write_policy(make_policy(tiers=SLOW_TIERS), tmp_path),
                       sms_base_url=sms.base_url, smtp_url=smtp.url)
    app = create_app(load_settings(env))
    for n in range(10):
        app.test_client().post("/api/v1/alerts", data=body(firing(f"00000000000003{n:02d}",
                                                                  severity="warning")),
                               content_type="application/json", headers=BEARER)
    close_app(app)
    smtp.delay = 2.0
    worker = WorkerProcess(env)
    worker.start()
    wait_until(lambda: _rows(sql, "SELECT 1 FROM receiver_outbox WHERE status = 'sending'"),
               timeout=30, what="a send in hand")
    assert worker.proc is not None
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    worker.proc.wait(timeout=30)
    took = time.monotonic() - started
    worker.proc = None
    worker._log.close()
    senders = 2  # delivery.senders_per_channel
    assert took < 15, f"stopping took {took:.1f}s"
    assert len(smtp.received) <= senders, "only the messages in hand went out"
    assert _rows(sql, "SELECT count(*) FROM receiver_outbox WHERE status = 'sending'") == [(0,)]
    [(emails_waiting,)] = _rows(sql, "SELECT count(*) FROM receiver_outbox"
                                     " WHERE channel = 'email' AND status = 'pending'")
    assert emails_waiting == 10 - len(smtp.received), "the backlog waits for the next worker"


def test_a_redirect_is_not_followed_and_counts_as_our_configuration_fault(
        live_factory: Any, sms: TwilioSink, sql: Conn) -> None:
    live = live_factory(tiers=SLOW_TIERS)
    sms.script = [Misbehave(status=302, headers=(("Location", "http://127.0.0.1:9/x"),))]
    live.alert(firing("0000000000000f03"))
    live.worker.run_once()  # the 302; the retry is not due yet
    assert _rows(sql, "SELECT status, config_fault, last_error LIKE '%%redirect%%'"
                      " FROM receiver_outbox WHERE channel = 'sms'") == [("pending", True, True)]
    assert len(sms.attempts) == 1, "the POST was not turned into a GET elsewhere"
    sql.execute("UPDATE receiver_outbox SET next_attempt_at = now() WHERE channel = 'sms'")
    live.worker.run_once()
    assert len(sms.messages_to(ALICE["phone"])) == 1
