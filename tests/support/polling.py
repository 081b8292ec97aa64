"""Poll for a condition with a deadline: the only way tests wait for asynchronous work."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.05,
               what: str = "condition") -> T:
    """Return ``check()``'s first truthy value (so never None); fail with ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
