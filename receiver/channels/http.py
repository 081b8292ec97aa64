"""One ``requests.Session`` per HTTP channel whose sends obey a total ``SendDeadline``.

``requests`` is what the design names; two things are added around it:
- its urllib3 connections register their socket with the running deadline and
  note when the request has gone out (so "no answer" is told from "not sent");
- redirects are never followed (urllib's habit of turning a POST into a GET on
  a 30x would send a page nowhere): a 30x is reported as a configuration fault.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error

from ..delivery import DeliveryError, SendFailure, parse_retry_after
from . import deadline

CONNECT_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 65536


class _Watched:
    """Mixin: tell the running deadline about this connection's socket and request."""

    sock: Any

    def request(self, *args: Any, **kwargs: Any) -> None:
        running = deadline.current()
        if running is not None:
            running.watch(lambda: self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]
        if running is not None:
            running.request_sent = True


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment for pages
    adapter = _DeadlineAdapter(max_retries=0)  # retries are outbox rows, not hidden loops
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def classify_status(status: int, what: str, retry_after: str | None) -> SendFailure:
    """An HTTP answer that is not 2xx → how the delivery should treat it."""
    reason = f"{what} answered HTTP {status}"
    if status in (401, 403):
        return SendFailure(f"{reason}: our credentials or account are refused", ours=True)
    if 300 <= status < 400:
        return SendFailure(f"{reason}: a redirect (not followed); check the base URL", ours=True)
    if status == 404:
        return SendFailure(f"{reason}: wrong base URL or account", ours=True)
    if status in (408, 425, 429) or status >= 500:
        return SendFailure(reason, retry_after=parse_retry_after(retry_after, datetime.now(UTC)))
    return SendFailure(reason, permanent=True)  # 400/410/422…: this recipient or message


def post(session: requests.Session, url: str, what: str, running: deadline.SendDeadline,
         **kwargs: Any) -> tuple[int, bytes]:
    """POST under ``running``'s deadline; 2xx → (status, first bytes of the answer)."""
    try:
        response = session.post(url, allow_redirects=False, stream=True,
                                timeout=(min(CONNECT_TIMEOUT, running.remaining()),
                                         running.remaining()), **kwargs)
    except (requests.RequestException, OSError) as exc:
        if running.expired:
            raise DeliveryError(SendFailure(
                f"{what}: no answer within the {running.seconds:g}s send deadline",
                ambiguous=running.request_sent)) from None
        raise DeliveryError(SendFailure(f"{what} unreachable: {type(exc).__name__}",
                                        ambiguous=running.request_sent)) from None
    try:
        answer = response.raw.read(MAX_ANSWER_BYTES, decode_content=True) or b""
    except (requests.RequestException, Urllib3Error, OSError, ValueError):
        answer = b""  # the status line is the answer; a cut body does not undo a 2xx
    finally:
        response.close()
    if not 200 <= response.status_code < 300:
        raise DeliveryError(classify_status(response.status_code, what,
                                            response.headers.get("Retry-After")))
    return response.status_code, answer
