"""The live stack (tests/dashboards/live.py), started once for the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.postgres import PostgresServer
from .live import LiveStack


@pytest.fixture(scope="session")
def live(pg_server: PostgresServer) -> Iterator[LiveStack]:
    stack = LiveStack(scratch=pg_server)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
