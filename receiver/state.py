"""The receiver's per-app state, kept in ``app.extensions`` (no module globals).

Views and the metrics collector reach it through ``state()``; nothing imports
the app factory, so there is no import cycle between ``app`` and the blueprints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from .access import AccessLog
from .db import ReceiverDB
from .messages import Escalation
from .settings import Settings
from .status import StatusCache

EXTENSION = "receiver"


@dataclass(frozen=True)
class ReceiverState:
    settings: Settings
    escalation: Escalation
    db: ReceiverDB
    access: AccessLog
    status_cache: StatusCache = field(default_factory=StatusCache)


def state() -> ReceiverState:
    """The receiver's settings, escalation context and database for the current app."""
    found: ReceiverState = current_app.extensions[EXTENSION]
    return found
