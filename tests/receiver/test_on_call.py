"""On call from a phone: signed links, SMS replies, incident reading, the status page.

Flask's test client against a real, migrated PostgreSQL database; the Twilio
requests are signed with the twilio SDK's own validator.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from receiver.app import create_app
from receiver.links import LinkClaim, sign
from receiver.settings import load_settings

from ..support.receiver_stack import ALICE, BOB, TOKEN, make_policy, receiver_env, write_policy
from .conftest import close_app
from .payloads import body, firing, resolved

BASE = "https://oncall.wedsync.example"
SECRET = "link-secret-0123456789-0123456789-abcdef"
READ = "read-token-0123456789"
INBOUND = BASE + "/api/v1/sms/inbound"
Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def client(receiver_dsn: str, tmp_path: Path) -> Iterator[FlaskClient]:
    policy = make_policy(status_page={"cache_seconds": 0,
                                      "messages": {"WeddingTablesSlow": "Guest lists may be slow."}})
    settings = load_settings(receiver_env(
        receiver_dsn, write_policy(policy, tmp_path), RECEIVER_PUBLIC_BASE_URL=BASE,
        RECEIVER_LINK_SECRET=SECRET, RECEIVER_READ_TOKEN=READ))
    app = create_app(settings)
    yield app.test_client()
    close_app(app)


def fire(client: FlaskClient, payload: dict[str, object] | None = None) -> None:
    response = client.post("/api/v1/alerts", data=body(payload or firing()),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.json


def link_token(sql: Conn, contact: str = "alice") -> str:
    text = sql.execute("SELECT body FROM receiver_outbox WHERE channel = 'sms'"
                       " AND recipient_key = %s ORDER BY id DESC LIMIT 1", (contact,)).fetchone()
    assert text is not None
    found = re.search(re.escape(BASE) + r"/i/(\S+)", str(text[0]))
    assert found, text
    return found.group(1)


def incident_state(sql: Conn, incident_id: int = 1) -> tuple[object, ...]:
    row = sql.execute("SELECT state, acknowledged_by FROM receiver_incidents WHERE id = %s",
                      (incident_id,)).fetchone()
    assert row is not None
    return tuple(row)


def test_the_page_link_shows_the_incident_and_only_the_button_acknowledges(
        client: FlaskClient, sql: Conn) -> None:
    fire(client)
    token = link_token(sql)
    assert "Reply ACK 1" in str(sql.execute(
        "SELECT body FROM receiver_outbox WHERE channel = 'sms'").fetchone())
    shown = client.get(f"/i/{token}")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.mimetype == "text/html"
    assert "Incident 1: PostgresReplicationLagHigh" in html and "wedding day" in html
    assert "Acknowledge as alice" in html and "Tier 2 (secondary) is paged at" in html
    assert "alice by sms (tier 1): queued" in html
    assert shown.headers["Cache-Control"] == "no-store"
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    for _ in range(3):  # previews and scanners open links: nothing changes
        assert client.get(f"/i/{token}").status_code == 200
    assert incident_state(sql) == ("open", None)

    acked = client.post(f"/i/{token}")
    assert acked.status_code == 303 and acked.headers["Location"].endswith(f"/i/{token}")
    assert incident_state(sql) == ("acknowledged", "alice (link)")
    assert sql.execute("SELECT status FROM receiver_escalation_steps WHERE kind = 'tier'"
                       " ORDER BY tier").fetchall() == [("cancelled",), ("cancelled",)]
    after = client.get(f"/i/{token}").get_data(as_text=True)
    assert "Acknowledged: escalation stopped." in after and "Acknowledge as" not in after
    assert "acknowledged by alice (link)" in after


def test_tampered_expired_and_cut_links_get_a_clear_page_and_never_ack(
        client: FlaskClient, sql: Conn) -> None:
    fire(client)
    token = link_token(sql)
    forged = token.replace("1.alice.", "1.bob.", 1)
    expired = sign(LinkClaim(1, "alice", int(time.time()) - 1), SECRET)
    for bad, status, words in ((forged, 403, "not valid"), (expired, 410, "expired"),
                               (token[:20], 403, "not valid"), (token[:6], 404, "not valid")):
        for method in (client.get, client.post):
            answer = method(f"/i/{bad}")
            assert answer.status_code == status, (bad, method)
            assert words in answer.get_data(as_text=True)
            assert answer.mimetype == "text/html"
    assert incident_state(sql) == ("open", None)


def twilio_post(client: FlaskClient, sender: str, text: str, *, secret: str = "sms-secret"):  # type: ignore[no-untyped-def]
    form = {"From": sender, "To": "+15005550006", "Body": text, "MessageSid": "SM1",
            "AccountSid": "ACtest"}
    signature = RequestValidator(secret).compute_signature(INBOUND, form)
    return client.post("/api/v1/sms/inbound", data=form,
                       headers={"X-Twilio-Signature": signature})


def test_replying_ack_acknowledges_when_signed_and_sent_by_someone_paged(
        client: FlaskClient, sql: Conn) -> None:
    fire(client)
    forged = twilio_post(client, ALICE["phone"], "ACK 1", secret="not-the-auth-token")
    assert forged.status_code == 403 and forged.json is not None
    stranger = twilio_post(client, "+447700900999", "ACK 1")
    assert stranger.status_code == 200 and stranger.get_data(as_text=True).endswith("<Response/>")
    bob = twilio_post(client, BOB["phone"], "ACK 1")  # tier 2, not paged yet
    assert "You were not paged for incident 1" in bob.get_data(as_text=True)
    chatter = twilio_post(client, ALICE["phone"], "on my way")
    assert "Reply ACK" in chatter.get_data(as_text=True)
    assert incident_state(sql) == ("open", None)

    ack = twilio_post(client, ALICE["phone"], "ack 1")
    assert ack.status_code == 200 and ack.mimetype == "application/xml"
    assert "Incident 1 acknowledged" in ack.get_data(as_text=True)
    assert incident_state(sql) == ("acknowledged", "alice (sms reply)")


def test_one_acknowledges_the_latest_page_to_that_number(client: FlaskClient, sql: Conn) -> None:
    fire(client, firing("0000000000000001"))
    fire(client, firing("0000000000000002"))
    assert "Incident 2 acknowledged" in twilio_post(client, ALICE["phone"], "1").get_data(
        as_text=True)
    assert incident_state(sql, 1) == ("open", None)
    assert incident_state(sql, 2) == ("acknowledged", "alice (sms reply)")


def test_incidents_are_read_with_the_read_token_only(client: FlaskClient, sql: Conn) -> None:
    fire(client)
    client.post(f"/i/{link_token(sql)}")
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": "Bearer x"}):
        denied = client.get("/api/v1/incidents", headers=headers)
        assert denied.status_code == 401 and denied.json is not None
    reader = {"Authorization": f"Bearer {READ}"}
    listed = client.get("/api/v1/incidents?state=acknowledged", headers=reader).json
    assert listed is not None and [i["id"] for i in listed["incidents"]] == [1]
    assert client.get("/api/v1/incidents?state=nope", headers=reader).status_code == 400
    one = client.get("/api/v1/incidents/1", headers=reader).json
    assert one is not None and one["state"] == "acknowledged"
    assert [e["what"] for e in one["timeline"]][:2] == ["received", "paged"]
    assert "acked" in [e["what"] for e in one["timeline"]]
    assert one["told"] == {"staff": [], "vendors_told": 0, "vendors_told_resolved": 0,
                           "couples_told": 0}
    assert client.get("/api/v1/incidents/99", headers=reader).status_code == 404
    report = client.get("/api/v1/incidents/1/report", headers=reader)
    text = report.get_data(as_text=True)
    assert report.mimetype == "text/markdown" and text.startswith("# Incident 1:")
    assert "| time to acknowledge |" in text and "by alice (link)" in text
    assert ALICE["phone"] not in text and ALICE["phone"] not in str(one)


def test_the_status_page_shows_customer_words_and_clears_on_resolve(client: FlaskClient) -> None:
    assert client.get("/status.json").json["status"] == "operational"  # type: ignore[index]
    internal = firing("00000000000000aa")                 # impact=internal: not public
    fire(client, internal)
    assert client.get("/status.json").json["incidents"] == []  # type: ignore[index]
    customer = firing("00000000000000bb", impact="customer", alertname="WeddingTablesSlow")
    fire(client, customer)
    doc = client.get("/status.json").json
    assert doc is not None and doc["status"] == "disrupted"
    assert [(i["state"], i["message"]) for i in doc["incidents"]] == [
        ("investigating", "Guest lists may be slow.")]
    html = client.get("/status").get_data(as_text=True)
    assert "Guest lists may be slow." in html
    assert "WeddingTablesSlow" not in html and "db-1" not in html
    fire(client, resolved(customer))
    doc = client.get("/status.json").json
    assert doc is not None and doc["status"] == "operational"
    assert [i["state"] for i in doc["incidents"]] == ["resolved"]


def test_link_and_read_settings_fail_closed(receiver_dsn: str, tmp_path: Path) -> None:
    from receiver.errors import ConfigError
    path = write_policy(make_policy(), tmp_path)
    for extra, key in (({"RECEIVER_LINK_SECRET": "short"}, "RECEIVER_LINK_SECRET"),
                       ({"RECEIVER_LINK_SECRET": SECRET}, "RECEIVER_PUBLIC_BASE_URL"),
                       ({"RECEIVER_READ_TOKEN": ""}, "RECEIVER_READ_TOKEN"),
                       ({"RECEIVER_READ_TOKEN": TOKEN}, "RECEIVER_READ_TOKEN"),
                       ({"RECEIVER_PUBLIC_BASE_URL": "ftp://x"}, "RECEIVER_PUBLIC_BASE_URL")):
        with pytest.raises(ConfigError) as err:
            load_settings(receiver_env(receiver_dsn, path, **extra))
        assert any(d.startswith(key) for d in err.value.details), err.value.details


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    import json
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "receiver.access"]


def test_every_request_is_logged_once_without_secrets_and_refusals_are_counted(
        client: FlaskClient, sql: Conn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="receiver.access")
    fire(client)
    token = link_token(sql)
    client.get(f"/i/{token}")
    client.get(f"/i/{token[:-3]}xyz")                                 # forged
    client.post("/api/v1/alerts", data=b"{}", content_type="application/json",
                headers={"Authorization": "Bearer guessed-token"})
    client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {READ}"})
    lines = access_lines(caplog)
    assert [(x["route"], x["status"], x["outcome"], x["who"]) for x in lines] == [
        ("/api/v1/alerts", 200, "ok", "alertmanager (bearer)"),
        ("/i/<token>", 200, "ok", "link (alice)"),
        ("/i/<token>", 403, "refused", "client 127.0.0.1"),
        ("/api/v1/alerts", 401, "refused", "client 127.0.0.1"),
        ("/api/v1/incidents", 200, "ok", "read token")]
    logged = caplog.text
    for secret in (token, "guessed-token", READ, TOKEN, ALICE["phone"]):
        assert secret not in logged
    assert all("user_agent" not in x for x in lines), "not a wedding day: no roster today"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'dbhealth_receiver_auth_failures_total{route="/api/v1/alerts"} 1.0' in metrics
    assert 'dbhealth_receiver_auth_failures_total{route="/i/<token>"} 1.0' in metrics


def test_refusals_on_a_wedding_day_are_logged_in_full_detail(
        client: FlaskClient, sql: Conn, caplog: pytest.LogCaptureFixture) -> None:
    sql.execute("INSERT INTO receiver_vendor_roster_status (local_date, refreshed_at,"
                " vendor_count, last_attempt_at) VALUES (current_date, now(), 3, now())")
    caplog.set_level("INFO", logger="receiver.access")
    client.get("/api/v1/incidents", headers={"Authorization": "Basic Zm9vOmJhcg==",
                                             "User-Agent": "curl/8.0"})
    [line] = access_lines(caplog)
    assert line["outcome"] == "refused" and line["wedding_day"] is True
    assert (line["user_agent"], line["auth_scheme"], line["client"]) == (
        "curl/8.0", "Basic", "127.0.0.1")
    assert "Zm9vOmJhcg" not in caplog.text
