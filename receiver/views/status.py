"""The public status page: ``/status`` (HTML) and ``/status.json``, no authentication.

Customer words only (``receiver.status``); the document is cached for a few
seconds so a crowd of visitors during an incident costs one query, and a database
outage shows the last known state rather than an error, saying when it was made.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, render_template
from flask.typing import ResponseReturnValue

from ..errors import DatabaseUnavailable
from ..incident_read import status_rows
from ..state import state
from ..status import status_document

public = Blueprint("status", __name__)


def _document() -> dict[str, object]:
    receiver = state()
    cache = receiver.status_cache
    now = time.monotonic()
    page = receiver.settings.policy.status_page
    doc = cache.get(now, page.cache_seconds)
    if doc is not None:
        return doc
    try:
        with receiver.db.transaction() as conn:
            rows = status_rows(conn, page.show_resolved_seconds)
    except DatabaseUnavailable:
        stale = cache.last()
        if stale is None:
            raise
        return stale
    doc = status_document(rows, page, datetime.now(UTC))
    cache.put(doc, now)
    return doc


@public.get("/status.json")
def status_json() -> ResponseReturnValue:
    response = jsonify(_document())
    response.headers["Cache-Control"] = "public, max-age=10"
    return response


@public.get("/status")
def status_html() -> ResponseReturnValue:
    doc = _document()
    zone = state().settings.policy.zone

    def local(iso: str | None) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%a %d %b %H:%M") if iso else ""

    response = Response(render_template("status.html", doc=doc, local=local,
                                        zone=state().settings.policy.timezone),
                        mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=10"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
