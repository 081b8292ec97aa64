"""A total deadline for one send, enforced by cutting its sockets from a timer thread.

Socket timeouts bound each read, not the whole exchange: a provider that drips
one byte a second never trips them, and ``requests``/``smtplib`` offer nothing
better. So each send runs under a ``SendDeadline``: the channel registers the
sockets it opens, and when the deadline passes a timer thread shuts them down
(``shutdown(SHUT_RDWR)`` wakes a blocked ``recv``), the send fails, and the
failure is reported as "no answer within the deadline". ``request_sent`` tells
an unknown outcome (the request went out) from a plain failure.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

_current = threading.local()


class SendDeadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.request_sent = False
        self._watched: list[Callable[[], socket.socket | None]] = []
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def remaining(self) -> float:
        """Seconds left, never below a small floor (a zero socket timeout means non-blocking)."""
        return max(0.05, self.seconds - (time.monotonic() - self._start))

    def watch(self, get_socket: Callable[[], socket.socket | None]) -> None:
        """Cut this socket too at the deadline (a getter: the socket may not exist yet)."""
        with self._lock:
            self._watched.append(get_socket)
            expired = self.expired
        if expired:
            self._shutdown(get_socket)

    @staticmethod
    def _shutdown(get_socket: Callable[[], socket.socket | None]) -> None:
        sock = get_socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._watched)
        for get_socket in watched:
            self._shutdown(get_socket)

    def __enter__(self) -> SendDeadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._timer.cancel()
        _current.deadline = None


def current() -> SendDeadline | None:
    """The deadline of the send running on this thread, if any."""
    found: SendDeadline | None = getattr(_current, "deadline", None)
    return found
