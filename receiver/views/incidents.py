"""Incidents for people with the read token: list, one with its timeline, the report.

``RECEIVER_READ_TOKEN`` is separate from Alertmanager's credentials, so a dashboard
or a chat bot that reads incidents cannot inject alerts, and Alertmanager's token
cannot read the staff roster out of timelines.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from ..access import identify
from ..errors import BadRequest, NotFound, Unauthorized
from ..incident_read import list_views, load_view
from ..state import state
from ..timeline import IncidentView, report, summary, timeline, who_was_told

incidents = Blueprint("incidents", __name__, url_prefix="/api/v1")
MAX_BIGINT = 2**63 - 1
STATES = ("open", "acknowledged", "resolved", "live")


def _check_read_token() -> None:
    token = state().settings.read_token
    scheme, _, given = (request.headers.get("Authorization") or "").strip().partition(" ")
    if token is None:
        raise Unauthorized("incident reading is off (set RECEIVER_READ_TOKEN)")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogatepass"), token.get_secret_value().encode()):
        raise Unauthorized("missing or invalid read token")
    identify("read token")


def _view_or_404(incident_id: int) -> IncidentView:
    if incident_id > MAX_BIGINT:
        raise NotFound(f"no incident {incident_id}")
    with state().db.transaction() as conn:
        view = load_view(conn, incident_id)
    if view is None:
        raise NotFound(f"no incident {incident_id}")
    return view


@incidents.get("/incidents")
def list_incidents() -> ResponseReturnValue:
    _check_read_token()
    wanted = request.args.get("state")
    if wanted is not None and wanted not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}")
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        raise BadRequest("limit must be an integer from 1 to 500") from None
    if not 1 <= limit <= 500:
        raise BadRequest("limit must be an integer from 1 to 500")
    with state().db.transaction() as conn:
        views = list_views(conn, state=wanted, limit=limit)
    return jsonify(incidents=[summary(v) for v in views])


@incidents.get("/incidents/<int:incident_id>")
def get_incident(incident_id: int) -> ResponseReturnValue:
    _check_read_token()
    view = _view_or_404(incident_id)
    return jsonify({**summary(view), "told": who_was_told(view), "timeline": timeline(view)})


@incidents.get("/incidents/<int:incident_id>/report")
def get_report(incident_id: int) -> ResponseReturnValue:
    _check_read_token()
    view = _view_or_404(incident_id)
    return Response(report(view), mimetype="text/markdown")
