"""Property-based fuzzing of POST /api/v1/alerts: bad input gets a 4xx, never a 5xx."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from receiver.settings import Settings, load_settings
from receiver.state import EXTENSION

from ..support.receiver_stack import TOKEN, receiver_env
from .payloads import FIRING

ALLOWED = {200, 400, 401, 413, 415, 422}
FUZZ = hypothesis_settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
# Paths into a valid payload whose value the fuzzer replaces.
PATHS = [("version",), ("status",), ("alerts",), ("groupKey",), ("truncatedAlerts",),
         ("commonLabels",), ("alerts", 0), ("alerts", 0, "status"), ("alerts", 0, "labels"),
         ("alerts", 0, "fingerprint"), ("alerts", 0, "startsAt"), ("alerts", 0, "endsAt"),
         ("alerts", 0, "annotations"), ("alerts", 0, "labels", "severity"),
         ("alerts", 0, "annotations", "wedding_day")]


@pytest.fixture
def settings(receiver_dsn: str, policy_path: str) -> Settings:
    """One pooled connection: a pool that grows draws random jitter in its own thread,
    which Hypothesis (rightly) reports as data generation depending on external state."""
    return load_settings(receiver_env(receiver_dsn, policy_path, RECEIVER_POOL_SIZE="1"))


@pytest.fixture
def client(client: FlaskClient) -> FlaskClient:
    """The test client with its pool already filled, so no pool thread runs during generation."""
    assert client.get("/readyz").status_code == 200
    client.application.extensions[EXTENSION].db.wait_ready(10)
    return client


def _post(client: FlaskClient, data: bytes, content_type: str = "application/json",
          authorized: bool = True) -> int:
    headers = {"Authorization": f"Bearer {TOKEN}"} if authorized else {}
    response = client.post("/api/v1/alerts", data=data, content_type=content_type,
                           headers=headers)
    assert response.get_json() is not None, "every answer is JSON"
    return response.status_code


def _replace(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    target: Any = mutated
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return mutated


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_5xx(client: FlaskClient, data: bytes) -> None:
    assert _post(client, data) in {400, 422}


@FUZZ
@given(value=json_values)
def test_arbitrary_json_never_5xx(client: FlaskClient, value: Any) -> None:
    assert _post(client, json.dumps(value).encode()) == 422


@FUZZ
@given(path=st.sampled_from(PATHS), value=json_values | st.text(min_size=1))
def test_mutated_webhooks_never_5xx(client: FlaskClient, path: tuple[Any, ...],
                                    value: Any) -> None:
    status = _post(client, json.dumps(_replace(FIRING, path, value)).encode())
    assert status in ALLOWED


@FUZZ
@given(labels=st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=6),
       starts=st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)),
       fingerprint=st.from_regex(r"\A[0-9a-f]{16}\Z"))
def test_valid_but_unusual_webhooks_are_recorded(client: FlaskClient, labels: dict[str, str],
                                                 starts: Any, fingerprint: str) -> None:
    alert = {**FIRING["alerts"][0], "labels": labels, "fingerprint": fingerprint,
             "startsAt": starts.isoformat().replace("+00:00", "Z")}
    status = _post(client, json.dumps({**FIRING, "alerts": [alert]}).encode())
    has_bad_text = any("\x00" in k + v or any(0xD800 <= ord(c) <= 0xDFFF for c in k + v)
                       for k, v in labels.items())
    assert status == (422 if has_bad_text else 200)


def test_zero_starts_at_is_rejected(client: FlaskClient) -> None:
    alert = {**FIRING["alerts"][0], "startsAt": "0001-01-01T00:00:00Z"}
    assert _post(client, json.dumps({**FIRING, "alerts": [alert]}).encode()) == 422


@FUZZ
@given(content_type=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
       | st.sampled_from(["application/json; charset=utf-8", "APPLICATION/JSON"]),
       authorized=st.booleans())
def test_headers_never_5xx(client: FlaskClient, content_type: str, authorized: bool) -> None:
    status = _post(client, json.dumps(FIRING).encode(), content_type, authorized)
    assert status in ({200, 415} if authorized else {401})
