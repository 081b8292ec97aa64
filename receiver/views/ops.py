"""Operations endpoints: ``/healthz`` (liveness), ``/readyz`` (database), ``/metrics``, OpenAPI."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from .. import db
from ..metrics import render_metrics

ops = Blueprint("ops", __name__)
_OPENAPI: dict[str, Any] = json.loads(
    resources.files("receiver").joinpath("openapi.json").read_text())


@ops.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness: the process answers. Database trouble is /readyz's business (and 503s)."""
    return jsonify(status="ok")


@ops.get("/readyz")
def readyz() -> ResponseReturnValue:
    with db.transaction() as conn:  # DatabaseUnavailable → 503 JSON
        conn.execute("SELECT 1")
    return jsonify(status="ready", database="ok")


@ops.get("/metrics")
def metrics() -> ResponseReturnValue:
    return Response(render_metrics(), content_type=CONTENT_TYPE_LATEST)


@ops.get("/api/v1/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(_OPENAPI)
