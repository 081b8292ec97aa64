"""Receiver fixtures: a migrated receiver database per test, settings, the Flask test client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from receiver.app import create_app
from receiver.migrate import migrate
from receiver.settings import Settings, load_settings
from receiver.state import EXTENSION

from ..support.postgres import PostgresServer
from ..support.receiver_stack import make_policy, receiver_env, write_policy
from ..support.smtp_sink import SmtpSink
from ..support.twilio_sink import TwilioSink

_counter = itertools.count()


def close_app(app: Flask) -> None:
    """Close the app's database pool (each test's app has its own)."""
    app.extensions[EXTENSION].db.close()


@pytest.fixture
def receiver_dsn(pg_server: PostgresServer) -> str:
    dsn = pg_server.create_database(f"receiver_t{next(_counter)}")
    migrate(dsn, progress=lambda _msg: None)
    return dsn


@pytest.fixture
def policy_path(tmp_path: Path) -> str:
    return write_policy(make_policy(), tmp_path)


@pytest.fixture
def settings(receiver_dsn: str, policy_path: str) -> Settings:
    return load_settings(receiver_env(receiver_dsn, policy_path))


@pytest.fixture
def client(settings: Settings) -> Iterator[FlaskClient]:
    app = create_app(settings)
    yield app.test_client()
    close_app(app)


@pytest.fixture
def sql(receiver_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(receiver_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def sms() -> Iterator[TwilioSink]:
    """The Twilio-shaped SMS sink (scriptable misbehaviour: demo.sinks.Misbehave)."""
    sink = TwilioSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()
