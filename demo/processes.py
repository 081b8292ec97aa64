"""The demo's background processes: the pid file, liveness, readiness and stopping.

Each service is started in a session of its own (``start_new_session``), so stopping it
signals its whole process group (a gunicorn master and its workers, Prometheus and
nothing else): the demo never stops a process by name.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[str], None]


def read_pids(root: Path) -> dict[str, int]:
    path = root / "pids.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_pids(root: Path, pids: dict[str, int]) -> None:
    (root / "pids.json").write_text(json.dumps(pids))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def wait_ready(url: str, timeout: float = 60.0) -> bool:
    """Whether ``url`` answered within ``timeout`` seconds (any HTTP answer counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own http:// URLs
                return True
        except OSError:
            time.sleep(0.25)
    return False


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def stop(name: str, pid: int, progress: Progress) -> None:
    if alive(pid):
        os.killpg(pid, signal.SIGTERM)
        progress(f"demo: stopped {name}")
