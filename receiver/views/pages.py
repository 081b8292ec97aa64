"""Pages for phones: the signed incident link (``/i/<token>``).

GET shows the incident and never acknowledges: link previews, mail scanners and
chat unfurlers open links. Only the form's POST acknowledges, as the contact the
link was made for, then redirects back (303) so a reload does not post again.
Errors here answer as HTML pages, because a person, not a program, is reading.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from ..access import identify
from ..errors import DatabaseUnavailable, NotFound, ReceiverError
from ..incident_read import load_view
from ..incidents import acknowledge
from ..links import LinkClaim, LinkError, verify
from ..state import state
from ..timeline import summary, timeline

pages = Blueprint("pages", __name__)
_LINK_PROBLEMS = {
    "expired": (410, "This link has expired",
                "Links in pages work for a limited time. Open the latest page you received, "
                "or reply ACK with the incident number to the text."),
    "tampered": (403, "This link is not valid",
                 "It may have been cut short or changed. Open it again from the message."),
    "malformed": (404, "This link is not valid",
                  "It may have been cut short or changed. Open it again from the message."),
}


def _secure(response: BaseResponse) -> BaseResponse:
    # The token in the URL is a credential: never cached, never sent on as a Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
    return response


def _html(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status,
                        mimetype="text/html")
    _secure(response)
    return response


@pages.errorhandler(ReceiverError)
def _page_error(exc: ReceiverError) -> ResponseReturnValue:
    title = ("The incident service is briefly unavailable" if isinstance(exc, DatabaseUnavailable)
             else "Not available")
    return _html("problem.html", exc.status, title=title, text=exc.message)


def _claim(token: str) -> LinkClaim:
    settings = state().settings
    if settings.link_secret is None:
        raise NotFound("incident links are not enabled")
    try:
        claim = verify(token, settings.link_secret.get_secret_value(), time.time())
    except LinkError as exc:
        status, title, text = _LINK_PROBLEMS[exc.reason]
        raise _LinkProblem(status, title, text) from None
    identify(f"link ({claim.contact})")
    return claim


class _LinkProblem(Exception):
    def __init__(self, status: int, title: str, text: str):
        super().__init__(title)
        self.status, self.title, self.text = status, title, text


@pages.errorhandler(_LinkProblem)
def _link_problem(exc: _LinkProblem) -> ResponseReturnValue:
    return _html("problem.html", exc.status, title=exc.title, text=exc.text)


def _local(iso: str | None) -> str:
    if not iso:
        return ""
    zone = state().settings.policy.zone
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%a %d %b %H:%M")


@pages.get("/i/<token>")
def incident_page(token: str) -> ResponseReturnValue:
    claim = _claim(token)
    with state().db.transaction() as conn:
        view = load_view(conn, claim.incident_id)
    if view is None:
        raise NotFound("this incident no longer exists")
    tiers = {i + 1: t.name for i, t in enumerate(state().settings.policy.tiers)}
    return _html("incident.html", incident=summary(view), timeline=timeline(view),
                 pages=[p for p in view.pages if p.kind == "page"], tiers=tiers,
                 contact=claim.contact, token=token, local=_local,
                 zone=state().settings.policy.timezone)


@pages.post("/i/<token>")
def acknowledge_from_page(token: str) -> ResponseReturnValue:
    claim = _claim(token)
    receiver = state()
    with receiver.db.transaction() as conn:
        outcome = acknowledge(conn, receiver.escalation, claim.incident_id,
                              f"{claim.contact} (link)")
    if outcome is None:
        raise NotFound("this incident no longer exists")
    return _secure(redirect(url_for("pages.incident_page", token=token), code=303))
