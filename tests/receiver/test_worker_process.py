"""The worker process stops on SIGTERM and never hangs, whenever the signal arrives.

Once started it finishes cleanly (exit 0); a signal during interpreter start-up takes
the default action (nothing is in flight then, and the outbox is durable).
"""

from __future__ import annotations

import signal

import pytest

from ..support.polling import wait_until
from ..support.receiver_stack import Worker, receiver_env


@pytest.mark.parametrize("wait_for_start", [True, False])
def test_worker_stops_cleanly_on_sigterm(receiver_dsn: str, policy_path: str,
                                         wait_for_start: bool) -> None:
    worker = Worker(receiver_env(receiver_dsn, policy_path))
    worker.start()
    try:
        assert worker.proc is not None
        if wait_for_start:
            wait_until(lambda: "worker started" in worker.logs(), timeout=30,
                       what="the worker to start")
        worker.proc.send_signal(signal.SIGTERM)
        expected = {0} if wait_for_start else {0, -signal.SIGTERM}
        assert worker.proc.wait(timeout=30) in expected, worker.logs()
    finally:
        worker.stop()
