"""The receiver's own database holds functions planted by another role that can create in
its schema: none of them ever runs as the receiver's role."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from receiver.app import create_app
from receiver.migrate import migrate
from receiver.settings import load_settings
from receiver.worker import Worker

from ..support.postgres import PostgresServer, plant_as_mallory
from ..support.receiver_stack import ALICE, REPO, TOKEN, receiver_env
from ..support.smtp_sink import SmtpSink
from ..support.twilio_sink import TwilioSink
from .conftest import close_app
from .payloads import body, firing, resolved

# Same names as pg_catalog's, with argument types closer to what a client may send (an
# integer where pg_catalog takes double precision or bigint): an exact match beats
# pg_catalog's whatever the search_path, unless the call spells the exact type.
PLANTED = [
    "make_interval(secs integer)", "make_interval(secs bigint)", "make_interval(secs smallint)",
    "make_interval(secs numeric)", "pg_advisory_xact_lock(integer)",
    "pg_advisory_xact_lock(smallint, smallint)", "pg_advisory_xact_lock(bigint, bigint)",
]


@pytest.fixture
def planted_dsn(pg_server: PostgresServer) -> str:
    dsn = pg_server.create_database("receiver_planted_functions")
    plant_as_mallory(dsn, "".join(
        f"CREATE FUNCTION public.{signature}"
        f" RETURNS {'interval' if signature.startswith('make_interval') else 'void'}"
        " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'dbhealth-planted % ran as %',"
        f" '{signature.split('(')[0]}', current_user; END $$;" for signature in PLANTED))
    migrate(dsn, progress=lambda _msg: None)
    return dsn


@pytest.fixture
def live(planted_dsn: str, policy_path: str, sms: TwilioSink,
         smtp: SmtpSink) -> Iterator[tuple[FlaskClient, Worker]]:
    settings = load_settings(receiver_env(planted_dsn, policy_path, sms_base_url=sms.base_url,
                                          smtp_url=smtp.url))
    client, worker = create_app(settings).test_client(), Worker(settings)
    yield client, worker
    close_app(client.application)
    worker.db.close()


def _post(client: FlaskClient, payload: bytes) -> None:
    response = client.post("/api/v1/alerts", data=payload, content_type="application/json",
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.json


def test_a_page_and_its_resolution_go_out_without_running_planted_functions(
        live: tuple[FlaskClient, Worker], sms: TwilioSink) -> None:
    client, worker = live
    _post(client, body(firing("a1b2c3d4e5f60718")))
    while worker.run_once():
        pass
    assert len(sms.messages_to(ALICE["phone"])) == 1
    _post(client, body(resolved(firing("a1b2c3d4e5f60718"))))
    while worker.run_once():
        pass
    assert len(sms.messages_to(ALICE["phone"])) == 2


def _receiver_migrate(dsn: str, policy_path: str) -> subprocess.CompletedProcess[str]:
    env = receiver_env(dsn, policy_path)
    return subprocess.run([sys.executable, "-m", "receiver", "migrate"],
                          env={**env, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


def test_the_cli_names_a_planted_table_and_exits_2(pg_server: PostgresServer,
                                                   policy_path: str) -> None:
    dsn = pg_server.create_database("receiver_cli_planted_table")
    plant_as_mallory(dsn, "CREATE TABLE public.receiver_outbox (id bigint)")
    done = _receiver_migrate(dsn, policy_path)
    assert done.returncode == 2, done.stderr
    assert "refusing to migrate: public.receiver_outbox (owned by mallory)" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_warns_when_others_can_write_to_its_schema(pg_server: PostgresServer,
                                                           policy_path: str) -> None:
    dsn = pg_server.create_database("receiver_cli_writable_schema")
    clean = _receiver_migrate(dsn, policy_path)
    assert clean.returncode == 0 and "warning" not in clean.stderr, clean.stderr
    plant_as_mallory(dsn)
    warned = _receiver_migrate(dsn, policy_path)
    assert warned.returncode == 0, warned.stderr
    assert "other roles can create objects on the receiver's search_path: public (mallory)" \
        in warned.stderr
