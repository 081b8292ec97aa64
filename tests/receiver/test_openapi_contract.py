"""The OpenAPI document against the running receiver (gunicorn, PostgreSQL), with schemathesis.

Every operation in ``receiver/openapi.json`` is called with generated requests;
schemathesis fails the test on a 5xx, on a status the document does not list,
and on a body or content type that does not match what it documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from receiver.migrate import migrate

from ..support.postgres import PostgresServer
from ..support.receiver_stack import TOKEN, Gunicorn, make_policy, receiver_env, write_policy

pytestmark = pytest.mark.slow
DOCUMENT: dict[str, Any] = json.loads(
    resources.files("receiver").joinpath("openapi.json").read_text())


@pytest.fixture(scope="module")
def receiver_url(pg_server: PostgresServer) -> Iterator[str]:
    dsn = pg_server.create_database("receiver_contract")
    migrate(dsn, progress=lambda _msg: None)
    server = Gunicorn(receiver_env(dsn, write_policy(make_policy())), workers=1)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


# Invalid data must be refused with a 4xx; 413 (a generated body over the size limit) is
# as much a refusal as 400/422, so it is added to the statuses that count as one.
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415",
                          "422", "428", "429", "5xx"]}}})
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_running_receiver_answers_as_documented(case: Any, receiver_url: str) -> None:
    # positive_data_acceptance is left out on purpose: the receiver checks more than a
    # JSON schema can say (a timestamp must be a real instant, "2026-13-01" is not) and
    # documents those refusals as 422. Every other check applies.
    case.call_and_validate(base_url=receiver_url, headers={"Authorization": f"Bearer {TOKEN}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_the_document_embeds_the_webhook_schema_the_receiver_validates_with() -> None:
    hook = json.loads(resources.files("receiver").joinpath("webhook_schema.json").read_text())
    embedded = json.loads(json.dumps(hook).replace(
        '"#/$defs/kv"', '"#/components/schemas/AlertmanagerLabels"'))
    labels = embedded.pop("$defs")["kv"]
    for key in ("$schema", "$id"):
        embedded.pop(key)
    documented = dict(DOCUMENT["components"]["schemas"]["AlertmanagerWebhook"])
    documented.pop("description")
    assert documented == embedded
    assert DOCUMENT["components"]["schemas"]["AlertmanagerLabels"] == labels


def test_every_route_of_the_app_is_in_the_document(settings: Any) -> None:
    from receiver.app import create_app

    from .conftest import close_app

    app = create_app(settings)
    routes: dict[str, set[str]] = {}
    try:
        for rule in app.url_map.iter_rules():
            if rule.endpoint != "static":
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
                routes.setdefault(path, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    finally:
        close_app(app)
    documented = {path: {m.upper() for m in ops} for path, ops in DOCUMENT["paths"].items()}
    renamed = {p.replace("{incident_id}", "{id}"): m for p, m in routes.items()}
    assert renamed == documented
