"""``create_app()``: settings, error handlers, the database extension and blueprints.

The pool opens lazily on first use, in the serving process (under gunicorn,
after the fork: no socket is ever shared between processes). Nothing connects
at import.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from .access import AccessLog
from .db import ReceiverDB
from .errors import register_error_handlers
from .messages import escalation_for
from .settings import Settings, load_settings
from .state import EXTENSION, ReceiverState
from .views.alerts import alerts
from .views.incidents import incidents
from .views.ops import ops
from .views.pages import pages
from .views.sms import sms
from .views.status import public

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings(os.environ)
    app = Flask("receiver")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    escalation = escalation_for(settings)
    database = ReceiverDB(settings)
    access = AccessLog(database, settings.policy)
    app.extensions[EXTENSION] = ReceiverState(settings, escalation, database, access)
    access.install(app)
    register_error_handlers(app)
    for blueprint in (alerts, incidents, ops, pages, public, sms):
        app.register_blueprint(blueprint)
    return app
