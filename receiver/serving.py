"""The receiver's gunicorn worker: gevent, with total deadlines no slow client can stretch.

Why: with sync workers one client trickling its request at 1 byte/s holds a
whole worker, so two such clients stalled the receiver and Alertmanager's
webhooks timed out. Under gevent every connection is a greenlet, so a slow
client costs one greenlet (and at most ``RECEIVER_MAX_BODY_BYTES`` of buffer)
out of ``worker_connections``, never the worker. Socket timeouts alone would not
be enough: they bound each ``recv``, and a client sending one byte per timeout
keeps them from ever firing. So every read from a client has a TOTAL deadline:

- the request head: gunicorn's ``AsyncWorker.handle`` parses each head under
  ``timeout_ctx()``, which for gevent is ``gevent.Timeout(keepalive)``; on expiry
  the connection is closed (``keepalive`` must stay > 0, see gunicorn_conf);
- the body: ``ReceiverWorker.handle_request`` reads the whole body, capped at the
  size limit, under ``RECEIVER_REQUEST_TIMEOUT_SECONDS`` before the app runs,
  answering 408 on expiry and 413 when it is too large (``Content-Length`` or
  chunked alike). The app then reads from memory, so it can never block on a client.

This module is imported by the gunicorn master (it names the worker class), so
it must not import psycopg, even indirectly: see ``check_psycopg_cooperative``.
"""

from __future__ import annotations

import contextlib
import json
import os
from http import HTTPStatus
from typing import Any

import gevent  # type: ignore[import-untyped]
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http.body import Body, LengthReader
from gunicorn.workers.ggevent import GeventWorker

#: Longest client-supplied text echoed back in an error message.
MAX_ECHOED_MESSAGE = 200
#: After an early answer (408, 413, a bad request) keep reading and discarding what
#: the client still sends for this long, so that closing with unread bytes does
#: not make the kernel send RST, which can destroy the answer before it is read.
LINGER_SECONDS = 2.0

# gunicorn's own errors for requests it cannot parse, and the status each gets.
# Same statuses as gunicorn's Worker.handle_error; only the body changes (JSON).
_CLIENT_ERROR_STATUS: tuple[tuple[type[BaseException], HTTPStatus], ...] = (
    (http_errors.LimitRequestLine, HTTPStatus.REQUEST_URI_TOO_LONG),
    (http_errors.LimitRequestHeaders, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
    (http_errors.ExpectationFailed, HTTPStatus.EXPECTATION_FAILED),
    (http_errors.ForbiddenProxyRequest, HTTPStatus.FORBIDDEN),
    (http_errors.UnsupportedTransferCoding, HTTPStatus.NOT_IMPLEMENTED),
    (http_errors.InvalidRequestLine, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidRequestMethod, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidHTTPVersion, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidHeader, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidHeaderName, HTTPStatus.BAD_REQUEST),
    (http_errors.ObsoleteFolding, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidProxyLine, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidSchemeHeaders, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidH2CPreface, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidChunkSize, HTTPStatus.BAD_REQUEST),
    (http_errors.ChunkMissingTerminator, HTTPStatus.BAD_REQUEST),
    (http_errors.InvalidChunkExtension, HTTPStatus.BAD_REQUEST),
)
# Subclasses of InvalidHeader(Name) raised for a header the APP tried to send: our fault, 500.
_APP_HEADER_ERRORS = (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)

# Stable machine-readable names, the same the app uses for the same status (receiver/errors.py).
_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.REQUEST_TIMEOUT: "request_timeout",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri_too_long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "request_header_fields_too_large",
}


class RequestRejected(Exception):
    """The body was not read to the end: answer ``status`` and close the connection."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class BufferedBodyReader:
    """A ``gunicorn.http.body`` reader over a body already read into memory."""

    def __init__(self, data: bytes):
        self._data = data
        self._offset = 0

    def read(self, size: int) -> bytes:
        piece = self._data[self._offset:self._offset + size]
        self._offset += len(piece)
        return piece


def json_error_response(status: HTTPStatus, message: str) -> bytes:
    """A complete HTTP/1.1 answer shaped like the app's errors: ``{"error", "message"}``."""
    code = _ERROR_CODES.get(status) or status.phrase.lower().replace(" ", "_").replace("-", "_")
    body = json.dumps({"error": code, "message": message}).encode()
    head = (f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("latin-1") + body


def check_psycopg_cooperative() -> None:
    """Refuse to serve when psycopg would block the whole worker on a database wait.

    psycopg picks its wait function once, at import: the C ``wait_c`` unless gevent
    has already patched ``select``. ``wait_c`` does not yield to the gevent hub, so
    one slow query would freeze every connection of the worker (and its heartbeat).
    That happens if anything imports psycopg in the master or before the worker
    patches (a module-level import in gunicorn_conf, ``preload_app``) or if
    ``PSYCOPG_WAIT_FUNC`` forces it; failing the boot makes that mistake loud.
    """
    import psycopg.waiting  # after the patch: this import, if first, chooses correctly
    from gevent import monkey

    if monkey.is_module_patched("select") and psycopg.waiting.wait is psycopg.waiting.wait_c:
        raise RuntimeError(
            "psycopg was imported before gevent patched the worker (psycopg.waiting.wait is "
            "wait_c), so database waits would block every request of this worker; import "
            "nothing that loads psycopg in gunicorn_conf at module level, do not preload "
            "the app, and do not set PSYCOPG_WAIT_FUNC")


class ReceiverWorker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker plus a total body deadline, a body cap and JSON errors."""

    max_body_bytes = 1_048_576
    body_deadline_seconds = 10.0

    def load_wsgi(self) -> None:
        # Runs in the worker after gevent's monkey-patching and before post_worker_init
        # opens the pool: the first moment psycopg is loaded (by the app) and checkable.
        super().load_wsgi()
        check_psycopg_cooperative()
        from .settings import load_settings  # lazily: this module is imported by the master

        settings = load_settings(os.environ)
        self.max_body_bytes = settings.max_body_bytes
        self.body_deadline_seconds = settings.request_timeout_seconds

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        try:
            self._buffer_body(req, sock)
        except RequestRejected as rejected:
            self.log.warning("Rejected request from ip=%s: %s %s", _peer(addr),
                             rejected.status.value, rejected.message)
            _write_quietly(sock, json_error_response(rejected.status, rejected.message))
            util.close_graceful(sock, timeout=LINGER_SECONDS, max_drain=self.max_body_bytes)
            raise StopIteration() from None  # AsyncWorker.handle: stop serving, close
        return super().handle_request(listener_name, req, sock, addr)

    def _buffer_body(self, req: Any, sock: Any) -> None:
        """Replace ``req.body`` by the whole body read into memory, or raise ``RequestRejected``.

        Chunk-encoding errors (bad size, missing CRLF, bad trailers) propagate as
        gunicorn's own exceptions, so ``handle_error`` answers them with 400, before
        the app could turn them into a 500. A client that disconnects mid-body raises
        ``NoMoreData``, which gunicorn treats as a quiet disconnect.
        """
        limit = self.max_body_bytes
        declared = req.body.reader.length if isinstance(req.body.reader, LengthReader) else None
        if declared is not None and declared > limit:
            # Refuse before reading a byte (and before any 100 Continue): nothing to wait for.
            raise RequestRejected(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                  f"body is larger than {limit} bytes")
        if declared == 0:
            return  # nothing to read; gunicorn's empty body is already in memory
        if req._expected_100_continue:
            # The client waits for this before sending the body; gunicorn would send it
            # in wsgi.create, after our read: too late. Send it now, and only once.
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req._expected_100_continue = False
        deadline = gevent.Timeout(self.body_deadline_seconds)
        try:
            with deadline:
                data = req.body.read(limit + 1)  # one byte over the limit tells "too large"
        except gevent.Timeout as expired:
            if expired is not deadline:
                raise
            raise RequestRejected(
                HTTPStatus.REQUEST_TIMEOUT,
                f"request body not received within {self.body_deadline_seconds:g} s") from None
        if len(data) > limit:
            raise RequestRejected(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                  f"body is larger than {limit} bytes")
        if declared is not None and len(data) < declared:
            raise http_errors.NoMoreData(data[-16:])  # the client went away mid-body
        req.body = Body(BufferedBodyReader(data))

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn answers its own parse errors with a text/html page; Alertmanager and
        # our operators expect the receiver's JSON errors everywhere. Anything else is a
        # real server error: gunicorn's own handling (log the traceback, answer 500).
        status = next((status for kind, status in _CLIENT_ERROR_STATUS if isinstance(exc, kind)),
                      None)
        if status is None or isinstance(exc, _APP_HEADER_ERRORS):
            super().handle_error(req, client, addr, exc)
            return
        message = str(exc)[:MAX_ECHOED_MESSAGE] or type(exc).__name__
        self.log.warning("Invalid request from ip=%s: %s %s", _peer(addr), status.value, message)
        _write_quietly(client, json_error_response(status, f"{type(exc).__name__}: {message}"))
        # Unread request bytes (e.g. the rest of a badly chunked body) would turn the
        # close into a RST that can destroy this answer before the client reads it.
        util.close_graceful(client, timeout=LINGER_SECONDS, max_drain=self.max_body_bytes)


def _peer(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) and addr else "unix"


def _write_quietly(sock: Any, data: bytes) -> None:
    """Send an error answer; a client that is already gone is not an error of ours."""
    with contextlib.suppress(OSError):  # includes timeouts and resets
        sock.sendall(data)
