"""``POST /api/v1/alerts`` (Alertmanager webhook) and ``POST /api/v1/incidents/<id>/ack``.

Status codes: 401 unauthenticated, 413 too large, 415 not JSON, 400 malformed
JSON, 422 not a v4 webhook, 503 our database is down (Alertmanager retries),
200 only after the webhook's rows are committed. Never 429.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..access import identify
from ..auth import check_authorization
from ..errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from ..incidents import acknowledge
from ..ingest import record_webhook
from ..state import state
from ..webhook import decode_json, parse_webhook

alerts = Blueprint("alerts", __name__, url_prefix="/api/v1")
MAX_BIGINT = 2**63 - 1


def _json_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    return request.get_data(cache=False)


@alerts.post("/alerts")
def receive_alerts() -> ResponseReturnValue:
    receiver = state()
    identify(f"alertmanager ({check_authorization(request.headers.get('Authorization'), receiver.settings)})")
    hook = parse_webhook(_json_body(receiver.settings.max_body_bytes))
    with receiver.db.transaction() as conn:
        result = record_webhook(conn, hook, receiver.escalation, datetime.now(UTC))
    return jsonify(status="recorded", inbox_id=result.inbox_id, new_alerts=result.new_alerts,
                   duplicate_alerts=result.duplicate_alerts, incidents=result.incidents)


@alerts.post("/incidents/<int:incident_id>/ack")
def ack_incident(incident_id: int) -> ResponseReturnValue:
    receiver = state()
    settings = receiver.settings
    who = check_authorization(request.headers.get("Authorization"), settings)
    identify(f"alertmanager ({who})")
    by = who
    if request.content_length:
        body = decode_json(_json_body(settings.max_body_bytes))
        if not isinstance(body, dict) or not isinstance(body.get("by", ""), str):
            raise BadRequest('body must be a JSON object like {"by": "name"}')
        # Only a plain name goes into the audit trail (no control characters, no NULs).
        by = re.sub(r"[^\w .@+-]", "", str(body.get("by") or who))[:100] or who
    outcome = None
    if incident_id <= MAX_BIGINT:  # a larger id cannot exist, and would not fit the column
        with receiver.db.transaction() as conn:
            outcome = acknowledge(conn, receiver.escalation, incident_id, by)
    if outcome is None:
        raise NotFound(f"no incident {incident_id}")
    return jsonify(outcome)
