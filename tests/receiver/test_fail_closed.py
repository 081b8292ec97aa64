"""Configuration fails closed: empty secrets, unmigrated schemas, lax durability, limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

from receiver.app import create_app
from receiver.errors import ConfigError
from receiver.migrate import migrate
from receiver.settings import load_settings

from ..support.postgres import PostgresServer
from ..support.receiver_stack import REPO, TOKEN, make_policy, receiver_env, write_policy
from .conftest import close_app
from .payloads import body, firing

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("variable", ["RECEIVER_AUTH_TOKEN", "RECEIVER_BASIC_AUTH_USER",
                                      "RECEIVER_BASIC_AUTH_PASSWORD", "RECEIVER_SMS_AUTH_TOKEN"])
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_secret_is_a_configuration_error(tmp_path: Path, variable: str,
                                                   value: str) -> None:
    env = receiver_env("postgresql://u@h/db", write_policy(make_policy(), tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, variable: value})
    assert any(d.startswith(f"{variable}: ") and "empty" in d for d in caught.value.details)


def test_a_bare_bearer_header_is_refused(client: object) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    for header in ("Bearer", "Bearer ", "Basic", "Basic Og=="):  # Og== is ":"
        response = client.post("/api/v1/alerts", data=body(firing()),
                               content_type="application/json",
                               headers={"Authorization": header})
        assert response.status_code == 401, header


def test_unmigrated_schema_answers_503_and_serve_refuses_to_start(
        pg_server: PostgresServer, tmp_path: Path) -> None:
    dsn = pg_server.create_database("receiver_blank")
    env = receiver_env(dsn, write_policy(make_policy(), tmp_path))
    app = create_app(load_settings(env))
    client = app.test_client()
    try:
        response = client.post("/api/v1/alerts", data=body(firing()),
                               content_type="application/json", headers=BEARER)
        assert response.status_code == 503, "Alertmanager must retry, not drop or loop on 500"
        assert response.json is not None and response.json["error"] == "schema_not_migrated"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json is not None
        assert ready.json["error"] == "schema_not_migrated"
    finally:
        close_app(app)
    served = subprocess.run([sys.executable, "-m", "receiver", "--bind", "127.0.0.1:9"],
                            env={**env, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 2 and "dbhealth-receiver migrate" in served.stderr
    migrate(dsn, progress=lambda _msg: None)
    app = create_app(load_settings(env))
    try:
        assert app.test_client().get("/readyz").json == {"status": "ready", "database": "ok",
                                                          "schema": "current"}
    finally:
        close_app(app)


@pytest.mark.slow
def test_a_200_survives_a_crash_even_with_synchronous_commit_off(tmp_path: Path) -> None:
    # The WAL writer waits 10 s: with the server's own setting a commit would only sit
    # in shared memory, and an immediate stop throws that away.
    server = PostgresServer(extra_conf={"synchronous_commit": "off",
                                        "wal_writer_delay": "10000ms"})
    server.start()
    try:
        dsn = server.create_database("receiver_durable")
        migrate(dsn, progress=lambda _msg: None)
        app = create_app(load_settings(receiver_env(dsn, write_policy(make_policy(), tmp_path))))
        client = app.test_client()
        with app.extensions["receiver"].db.transaction() as conn:
            row = conn.execute("SHOW synchronous_commit").fetchone()
        assert row == ("on",)
        for n in range(30):
            response = client.post("/api/v1/alerts", data=body(firing(f"{n:016x}")),
                                   content_type="application/json", headers=BEARER)
            assert response.status_code == 200
        close_app(app)
        server.stop("immediate")
        server.start()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM receiver_webhook_inbox").fetchone() == (30,)
    finally:
        server.destroy()


def test_example_alertmanager_config_sends_what_the_receiver_accepts() -> None:
    config = yaml.safe_load((REPO / "rules" / "alertmanager.yml").read_text())
    schema = json.loads((REPO / "receiver" / "webhook_schema.json").read_text())
    limit = schema["properties"]["alerts"]["maxItems"]
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert 0 < hook["max_alerts"] <= limit, receiver["name"]
