"""The receiver's exceptions; each carries the HTTP status it answers with.

``register_error_handlers`` is the one place that turns them (and werkzeug's own
HTTP errors) into JSON bodies, so no view decides a status code by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ReceiverError(Exception):
    """Base class: ``status`` is the HTTP answer, ``code`` a stable machine-readable name."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigError(ReceiverError):
    """Settings or policy are invalid; ``details`` lists every problem, each naming its key."""

    code = "config_error"


class BadRequest(ReceiverError):
    status = 400
    code = "bad_request"


class Unauthorized(ReceiverError):
    status = 401
    code = "unauthorized"


class Forbidden(ReceiverError):
    status = 403
    code = "forbidden"


class NotFound(ReceiverError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ReceiverError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ReceiverError):
    status = 415
    code = "unsupported_media_type"


class InvalidPayload(ReceiverError):
    """Well-formed JSON that is not an Alertmanager v4 webhook: permanent, so 422."""

    status = 422
    code = "invalid_payload"


class DatabaseUnavailable(ReceiverError):
    """Our own database cannot be reached: 503 so that Alertmanager retries."""

    status = 503
    code = "database_unavailable"


class SchemaNotReady(DatabaseUnavailable):
    """The database answers but the receiver's migrations were not applied: 503, and say so."""

    code = "schema_not_migrated"


def _body(status: int, code: str, message: str, details: list[str] | None = None) -> Any:
    payload: dict[str, Any] = {"error": code, "message": message}
    if details:
        payload["details"] = details
    response = jsonify(payload)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error as JSON; unexpected exceptions become 500 with the traceback logged."""

    @app.errorhandler(ReceiverError)
    def _receiver_error(exc: ReceiverError) -> ResponseReturnValue:
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        response = _body(exc.status, exc.code, exc.message, exc.details)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="dbhealth-receiver"'
        return response  # type: ignore[no-any-return]

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        response = _body(status, code, exc.description or code)
        for name, value in exc.get_headers():  # e.g. Allow on a 405 (RFC 9110)
            if name.lower() != "content-type":
                response.headers[name] = value
        return response  # type: ignore[no-any-return]

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return _body(500, "internal_error", "internal error")  # type: ignore[no-any-return]
