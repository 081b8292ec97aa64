"""The webhook API through the Flask test client against a real PostgreSQL database."""

from __future__ import annotations

import base64
import json
from typing import SupportsFloat, cast

import psycopg
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from receiver.app import create_app
from receiver.settings import Settings

from ..support.ports import free_port
from ..support.receiver_stack import TOKEN, make_policy, receiver_env
from .conftest import close_app
from .payloads import body, firing, resolved

BEARER = {"Authorization": f"Bearer {TOKEN}"}
Conn = psycopg.Connection[tuple[object, ...]]


def post(client: FlaskClient, data: bytes, headers: dict[str, str] | None = None,
         content_type: str = "application/json") -> TestResponse:
    return client.post("/api/v1/alerts", data=data, content_type=content_type,
                       headers=BEARER if headers is None else headers)


def test_firing_alert_is_committed_with_tier1_pages_and_later_tiers_scheduled(
        client: FlaskClient, sql: Conn) -> None:
    response = post(client, body(firing()))
    assert response.status_code == 200
    assert response.json == {"status": "recorded", "inbox_id": 1, "new_alerts": 1,
                             "duplicate_alerts": 0, "incidents": [1]}
    pages = sql.execute("SELECT recipient_key, channel, tier, status FROM receiver_outbox"
                        " ORDER BY channel").fetchall()
    assert pages == [("alice", "email", 1, "pending"), ("alice", "sms", 1, "pending")]
    steps = sql.execute("SELECT kind, tier, round(extract(epoch FROM due_at - i.opened_at))"
                        " FROM receiver_escalation_steps s JOIN receiver_incidents i"
                        " ON i.id = s.incident_id ORDER BY tier").fetchall()
    # Wedding day halves the waits: 4 s → 2 s, 600 s → 300 s.
    assert [(k, t, float(cast(SupportsFloat, d))) for k, t, d in steps] == [("tier", 2, 2.0),
                                                                           ("tier", 3, 300.0)]
    incident = sql.execute("SELECT level, wedding_day FROM receiver_incidents").fetchone()
    assert incident is not None
    level, wedding = incident
    assert (level, wedding) == ("emergency", True)
    events = [r[0] for r in sql.execute("SELECT event FROM receiver_audit_events ORDER BY id")]
    assert events == ["alert.firing", "incident.opened", "webhook.received"]


def test_replayed_webhook_and_ha_twin_page_nobody_twice(client: FlaskClient, sql: Conn) -> None:
    first = post(client, body(firing()))
    twin = firing()
    twin["groupKey"] = "{}/{}:{other-replica}"  # same alert, different delivery
    for payload in (firing(), twin):
        again = post(client, body(payload))
        assert again.status_code == 200
        assert again.json is not None and again.json["duplicate_alerts"] == 1
        assert again.json["incidents"] == []
    assert first.json is not None and first.json["incidents"] == [1]
    assert sql.execute("SELECT count(*) FROM receiver_outbox").fetchone() == (2,)
    assert sql.execute("SELECT count(*), sum(receive_count) FROM receiver_alerts").fetchone() \
        == (1, 3)
    assert sql.execute("SELECT count(*) FROM receiver_webhook_inbox").fetchone() == (3,)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "dbhealth_receiver_alerts_deduplicated_total 2.0" in metrics
    assert "dbhealth_receiver_webhooks_received_total 3.0" in metrics


def test_refire_joins_a_live_incident_and_opens_a_new_one_after_resolution(
        client: FlaskClient, sql: Conn) -> None:
    first = post(client, body(firing())).json
    refire = firing()
    refire["alerts"][0]["startsAt"] = "2026-06-06T14:00:00Z"
    joined = post(client, body(refire)).json  # same group, still firing: same incident
    assert first is not None and joined is not None
    assert joined["new_alerts"] == 1 and joined["incidents"] == first["incidents"] == [1]
    assert sql.execute("SELECT count(*) FROM receiver_outbox").fetchone() == (2,)
    post(client, body(resolved(firing())))
    post(client, body(resolved(refire)))  # the whole group resolved: the incident is over
    later = firing()
    later["alerts"][0]["startsAt"] = "2026-06-06T16:00:00Z"
    again = post(client, body(later)).json
    assert again is not None and len(again["incidents"]) == 1
    assert again["incidents"] != first["incidents"]


def test_repeat_of_firing_alert_pages_a_due_tier_once_and_never_early(
        client: FlaskClient, sql: Conn) -> None:
    post(client, body(firing()))
    post(client, body(firing()))  # repeat before tier 2 is due: nothing new
    assert sql.execute("SELECT count(*) FROM receiver_outbox").fetchone() == (2,)
    sql.execute("UPDATE receiver_escalation_steps SET due_at = now() WHERE tier = 2")
    post(client, body(firing()))  # Alertmanager's repeat_interval re-send
    post(client, body(firing()))
    assert sql.execute("SELECT tier, recipient_key, count(*) FROM receiver_outbox"
                       " GROUP BY 1, 2 ORDER BY 1").fetchall() == [(1, "alice", 2), (2, "bob", 2)]
    assert sql.execute("SELECT status FROM receiver_escalation_steps WHERE tier = 2"
                       ).fetchone() == ("done",)


def test_status_codes_for_bad_requests(client: FlaskClient) -> None:
    good = body(firing())
    basic = base64.b64encode(b"alertmanager:basic-secret").decode()
    wrong_basic = base64.b64encode(b"alertmanager:nope").decode()
    wrong_version = firing()
    wrong_version["version"] = "3"
    no_alerts = firing()
    del no_alerts["alerts"]
    bad_time = firing()
    bad_time["alerts"][0]["startsAt"] = "yesterday"
    nul = firing()
    nul["alerts"][0]["labels"]["instance"] = "db\u0000"
    cases = [
        (good, {}, "application/json", 401),
        (good, {"Authorization": "Bearer wrong"}, "application/json", 401),
        (good, {"Authorization": f"Basic {wrong_basic}"}, "application/json", 401),
        (good, {"Authorization": "Basic !!notbase64"}, "application/json", 401),
        (good, BEARER, "text/plain", 415),
        (good, BEARER, "application/x-www-form-urlencoded", 415),
        (b"{not json", BEARER, "application/json", 400),
        (b"\xff\xfe", BEARER, "application/json", 400),
        (b'{"a": NaN}', BEARER, "application/json", 400),
        (b"[" * 100_000, BEARER, "application/json", 400),
        (body({**firing(), "extra": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
         BEARER, "application/json", 200),
        (b'{"version": "4", "x": ' + b"[" * 900 + b"]" * 900 + b"}", BEARER,
         "application/json", 400),
        (body(wrong_version), BEARER, "application/json", 422),
        (body(no_alerts), BEARER, "application/json", 422),
        (body(bad_time), BEARER, "application/json", 422),
        (body(nul), BEARER, "application/json", 422),
        (body([1, 2]), BEARER, "application/json", 422),
        (b" " * (8 * 1_048_576 + 1), BEARER, "application/json", 413),
        (good, {"Authorization": f"Basic {basic}"}, "application/json", 200),
    ]
    for data, headers, content_type, expected in cases:
        response = post(client, data, headers, content_type)
        assert response.status_code == expected, (data[:60], headers, content_type,
                                                  response.get_json())
        payload = response.get_json()
        assert payload is not None and ("error" in payload) == (expected != 200)
    assert json.loads(post(client, body(wrong_version)).data)["message"].startswith(
        "unsupported payload version")


def test_ack_stops_further_tiers(client: FlaskClient, sql: Conn) -> None:
    post(client, body(firing()))
    assert client.post("/api/v1/incidents/1/ack").status_code == 401
    assert client.post("/api/v1/incidents/99/ack", headers=BEARER).status_code == 404
    assert client.post(f"/api/v1/incidents/{2**70}/ack", headers=BEARER).status_code == 404
    response = client.post("/api/v1/incidents/1/ack", json={"by": "alice"}, headers=BEARER)
    assert response.status_code == 200
    assert response.json == {"incident_id": 1, "state": "acknowledged", "cancelled_steps": 2,
                             "cancelled_pages": 2}
    assert sql.execute("SELECT DISTINCT status FROM receiver_escalation_steps").fetchall() == [
        ("cancelled",)]
    assert sql.execute("SELECT state, acknowledged_by FROM receiver_incidents").fetchone() == (
        "acknowledged", "alice")
    again = client.post("/api/v1/incidents/1/ack", headers=BEARER)
    assert again.json is not None and again.json["cancelled_steps"] == 0
    assert sql.execute("SELECT count(*) FROM receiver_audit_events"
                       " WHERE event = 'incident.acknowledged'").fetchone() == (2,)


def test_resolved_alert_cancels_pending_steps_and_thanks_those_paged(
        client: FlaskClient, sql: Conn) -> None:
    post(client, body(firing()))
    # The worker delivered alice's SMS; her email is still waiting.
    sql.execute("UPDATE receiver_outbox SET status = 'sent' WHERE channel = 'sms'")
    response = post(client, body(resolved(firing())))
    assert response.json is not None and response.json["new_alerts"] == 1
    rows = sql.execute("SELECT kind, channel, recipient_key, status FROM receiver_outbox"
                       " ORDER BY id").fetchall()
    assert rows == [("page", "sms", "alice", "sent"), ("page", "email", "alice", "cancelled"),
                    ("resolved", "sms", "alice", "pending")]
    assert sql.execute("SELECT DISTINCT status FROM receiver_escalation_steps").fetchall() == [
        ("cancelled",)]
    assert sql.execute("SELECT state FROM receiver_incidents").fetchone() == ("resolved",)
    # Alertmanager re-sends the resolved notification: nothing new is queued.
    again = post(client, body(resolved(firing())))
    assert again.json is not None and again.json["duplicate_alerts"] == 1
    assert sql.execute("SELECT count(*) FROM receiver_outbox").fetchone() == (3,)


def test_database_unavailable_answers_503_json(policy_path: str) -> None:
    dead_dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    settings = Settings.model_validate({
        **{k.removeprefix("RECEIVER_").lower(): v
           for k, v in receiver_env(dead_dsn, policy_path).items()},
        "database_timeout_seconds": 0.5,
        "policy": make_policy(),
    })
    client = create_app(settings).test_client()
    try:
        response = post(client, body(firing()))
        assert response.status_code == 503
        assert response.json is not None and response.json["error"] == "database_unavailable"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        assert "dbhealth_receiver_database_up 0.0" in client.get("/metrics").get_data(True)
    finally:
        close_app(client.application)


def test_openapi_document_lists_the_api(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document is not None and document["openapi"].startswith("3.")
    assert {"/api/v1/alerts", "/api/v1/incidents/{id}/ack", "/healthz", "/metrics"} <= set(
        document["paths"])
    codes = set(document["paths"]["/api/v1/alerts"]["post"]["responses"])
    assert codes == {"200", "400", "401", "408", "413", "415", "422", "503"}

