"""Gunicorn settings for the receiver (``-c python:receiver.gunicorn_conf``).

This file is loaded by the gunicorn master, before any worker forks and before
gevent monkey-patches the worker. It therefore imports nothing from ``receiver``
at module level: ``receiver.db`` pulls in psycopg, and psycopg chooses its wait
function at import time, the blocking C ``wait_c`` unless gevent has already
patched ``select`` (psycopg/waiting.py). Imported in the master, every worker
would inherit the blocking choice and one slow query would freeze all of a
worker's connections. The imports are inside the hooks, which run in the worker.

Each worker opens its own database pool in ``post_worker_init``: gunicorn calls
``post_fork`` before the gevent worker's ``init_process`` patches, and
``post_worker_init`` after the patch and after the app is loaded, so the pool's
threads are greenlets and its connections wait cooperatively. Never in the
master, so no connection is shared between processes.
"""

from __future__ import annotations

import os
from typing import Any

workers = int(os.environ.get("RECEIVER_WORKERS", "2"))
# gevent, through our subclass: a slow client costs one greenlet, not a worker, and the
# subclass puts a total deadline on the request body (receiver/serving.py explains).
worker_class = "receiver.serving.ReceiverWorker"
# Simultaneous connections per worker, slow ones included; beyond it connections wait
# in the listen backlog. Bounds memory too: each may buffer up to RECEIVER_MAX_BODY_BYTES.
worker_connections = 256
# Heartbeat timeout: a worker whose hub is blocked this long is killed and replaced.
timeout = 30
graceful_timeout = 10
# Must stay > 0. Besides the idle time between keep-alive requests, this is the TOTAL
# deadline for reading each request head: gunicorn's async worker parses heads under
# gevent.Timeout(keepalive) only in its keep-alive loop; with keepalive = 0 the head
# would be read with no deadline and a client trickling headers could hold a greenlet forever.
keepalive = 5
# gunicorn 27 opens a control socket per master at $XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl by default: one path per user, so a second receiver on the
# machine unlinks and takes over the first one's socket. We do not use gunicornc.
control_socket_disable = True
# Headers and request lines beyond these are rejected by gunicorn with 4xx (JSON, see serving.py).
limit_request_line = 8190
limit_request_fields = 100


def post_worker_init(worker: Any) -> None:
    from receiver.state import EXTENSION

    worker.wsgi.extensions[EXTENSION].db.open()


def worker_exit(server: Any, worker: Any) -> None:
    from receiver.state import EXTENSION

    app = getattr(worker, "wsgi", None)
    if app is not None and EXTENSION in getattr(app, "extensions", {}):
        app.extensions[EXTENSION].db.close()
