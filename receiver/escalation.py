"""Pure escalation decisions about one alert: its emergency level, and peak hours.

No database and no Flask: functions of an alert, the policy and a clock, tested
with plain values. What happens to an incident over time is in ``lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .policy import Channel, Level, Policy
from .webhook import Alert

_BASE_LEVEL: dict[str, Level] = {"critical": "critical", "page": "critical",
                                 "warning": "warning", "ticket": "warning"}
_RAISED: dict[Level, Level] = {"warning": "critical", "critical": "emergency",
                               "emergency": "emergency", "info": "info"}


@dataclass(frozen=True)
class Recipient:
    contact: str
    channel: Channel
    address: str


def is_peak(now: datetime, policy: Policy) -> bool:
    """Is ``now`` (any time zone) inside the policy's peak hours, local time?"""
    local = now.astimezone(policy.zone).time()
    return policy.peak_hours.start <= local < policy.peak_hours.end


def emergency_level(alert: Alert, now: datetime, policy: Policy) -> Level:
    """Severity sets the base level; during wedding-day peak hours it is raised one step."""
    base = _BASE_LEVEL.get(alert.severity, "info")
    if alert.wedding_day and is_peak(now, policy):
        return _RAISED[base]
    return base
