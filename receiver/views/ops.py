"""Operations endpoints: ``/healthz`` (liveness), ``/readyz`` (database), ``/metrics``, OpenAPI."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from ..errors import SchemaNotReady
from ..metrics import render_metrics
from ..migrate import pending_in
from ..state import state

ops = Blueprint("ops", __name__)
_OPENAPI: dict[str, Any] = json.loads(
    resources.files("receiver").joinpath("openapi.json").read_text())


@ops.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness: the process answers. Database trouble is /readyz's business (and 503s)."""
    return jsonify(status="ok")


@ops.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready: the database answers and every migration is applied (else 503 JSON)."""
    with state().db.transaction() as conn:  # DatabaseUnavailable → 503 JSON
        missing = pending_in(conn)
    if missing:
        raise SchemaNotReady("receiver schema is not migrated (run: dbhealth-receiver migrate)",
                             details=[f"pending migration {name}" for name in missing])
    return jsonify(status="ready", database="ok", schema="current")


@ops.get("/metrics")
def metrics() -> ResponseReturnValue:
    receiver = state()
    receiver.access.flush(force=True)  # this worker's refusals count in this scrape
    return Response(render_metrics(receiver.db), content_type=CONTENT_TYPE_LATEST)


@ops.get("/api/v1/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(_OPENAPI)
