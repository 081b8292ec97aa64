"""Gunicorn settings for the receiver (``-c python:receiver.gunicorn_conf``).

Each worker opens its own database pool after the fork (never in the master, so
no connection is shared between processes). The 30 s worker timeout is safe
because requests only write to the database; sending happens in the worker.
"""

from __future__ import annotations

import os
from typing import Any

from receiver import db
from receiver.settings import load_settings

workers = int(os.environ.get("RECEIVER_WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 10
keepalive = 5
# Headers and request lines beyond these are rejected by gunicorn with 4xx.
limit_request_line = 8190
limit_request_fields = 100


def post_fork(server: Any, worker: Any) -> None:
    db.open_pool(load_settings(os.environ))


def worker_exit(server: Any, worker: Any) -> None:
    db.close_pool()
