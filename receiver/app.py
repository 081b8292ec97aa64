"""``create_app()``: settings, error handlers, the database extension and blueprints.

The pool opens lazily on first use, in the serving process (under gunicorn,
after the fork: no socket is ever shared between processes). Nothing connects
at import.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from .db import ReceiverDB
from .errors import register_error_handlers
from .messages import Escalation
from .render import Templates
from .settings import Settings, load_settings
from .state import EXTENSION, ReceiverState
from .views.alerts import alerts
from .views.ops import ops

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings(os.environ)
    app = Flask("receiver")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    escalation = Escalation(settings.policy, Templates(settings.policy.templates))
    app.extensions[EXTENSION] = ReceiverState(settings, escalation, ReceiverDB(settings))
    register_error_handlers(app)
    app.register_blueprint(alerts)
    app.register_blueprint(ops)
    return app
