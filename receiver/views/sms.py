"""``POST /api/v1/sms/inbound``: Twilio's inbound-SMS webhook, so a reply acknowledges.

Only a request signed with the account's auth token over our public URL is read
(403 otherwise). A reply from a contact's number that names an incident they were
paged for ("ACK 12"), or "1" for their latest page, acknowledges it; anything else
from a contact gets a short help text; an unknown number gets an empty answer, so
the receiver never texts strangers or tells them who is on call.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from ..access import identify
from ..errors import Forbidden, NotFound, UnsupportedMediaType
from ..incident_read import paged_contact
from ..incidents import acknowledge
from ..masking import mask_phone
from ..sms_replies import HELP, parse_reply, signature_valid, twiml
from ..state import state

sms = Blueprint("sms", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
PATH = "/api/v1/sms/inbound"


def _answer(message: str | None) -> Response:
    return Response(twiml(message), mimetype="application/xml")


@sms.post("/sms/inbound")
def inbound_sms() -> ResponseReturnValue:
    receiver = state()
    settings = receiver.settings
    if not settings.sms_replies_enabled:
        raise NotFound("SMS replies are off (set RECEIVER_PUBLIC_BASE_URL and "
                       "RECEIVER_SMS_AUTH_TOKEN)")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Content-Type must be application/x-www-form-urlencoded")
    assert settings.public_base_url is not None and settings.sms_auth_token is not None
    url = settings.public_base_url + PATH
    if request.query_string:
        url += "?" + request.query_string.decode("utf-8", "replace")
    params = [(k, v) for k in request.form for v in request.form.getlist(k)]
    if not signature_valid(settings.sms_auth_token.get_secret_value(), url, params,
                           request.headers.get("X-Twilio-Signature")):
        raise Forbidden("X-Twilio-Signature does not match this request")
    identify("twilio")
    sender = request.form.get("From", "")
    contact = next((c.name for c in settings.policy.contacts if c.phone == sender), None)
    if contact is None:
        log.info("SMS reply from an unknown number %s ignored", mask_phone(sender))
        return _answer(None)
    identify(f"twilio (reply from {contact})")
    command = parse_reply(request.form.get("Body", ""))
    if command is None:
        return _answer(HELP)
    with receiver.db.transaction() as conn:
        incident_id = paged_contact(conn, contact, command.incident_id)
        if incident_id is None:
            wanted = (f"incident {command.incident_id}" if command.incident_id is not None
                      else "any incident")
            return _answer(f"You were not paged for {wanted}. {HELP}")
        outcome = acknowledge(conn, receiver.escalation, incident_id, f"{contact} (sms reply)")
    if outcome is None:
        return _answer(f"Incident {incident_id} no longer exists.")
    if outcome["state"] == "resolved":
        return _answer(f"Incident {incident_id} is already resolved.")
    return _answer(f"Incident {incident_id} acknowledged: escalation stopped. Thank you.")
