"""``create_app()``: settings, error handlers and blueprints. The pool is opened per process.

Under gunicorn ``post_fork`` opens the pool in each worker; elsewhere (the Flask
test client, ``flask run``) the first request opens it. Nothing connects at import.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from flask import Flask, current_app

from . import db
from .errors import register_error_handlers
from .render import Templates
from .settings import Settings, load_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiverState:
    settings: Settings
    templates: Templates


def state() -> ReceiverState:
    """The receiver's settings and templates for the current app."""
    found: ReceiverState = current_app.extensions["receiver"]
    return found


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings(os.environ)
    app = Flask("receiver")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["receiver"] = ReceiverState(settings, Templates(settings.policy.templates))
    register_error_handlers(app)

    @app.before_request
    def _ensure_pool() -> None:
        db.open_pool(settings)

    from .views.alerts import alerts
    from .views.ops import ops

    app.register_blueprint(alerts)
    app.register_blueprint(ops)
    return app
