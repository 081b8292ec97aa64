"""Pure escalation decisions: emergency level, which tiers page whom and when, retry timing.

No database and no Flask: everything here is a function of an alert, the policy
and a clock, so it is tested with plain values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
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


@dataclass(frozen=True)
class PlannedTier:
    number: int  # 1-based, as people say "tier 2"
    name: str
    delay_seconds: float
    recipients: tuple[Recipient, ...]


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


def plan_tiers(alert: Alert, level: Level, policy: Policy) -> list[PlannedTier]:
    """The tiers this alert escalates through, with delays shortened on wedding days."""
    rule = policy.levels[level]
    factor = policy.wedding_day_wait_factor if alert.wedding_day else 1.0
    planned = []
    for number, tier in enumerate(policy.tiers[: rule.tiers], start=1):
        recipients = []
        for name in tier.contacts:
            contact = policy.contact(name)
            for channel in rule.channels:
                address = contact.address(channel)
                if address:
                    recipients.append(Recipient(name, channel, address))
        planned.append(PlannedTier(number, tier.name, tier.after_seconds * factor,
                                   tuple(recipients)))
    return planned


def page_key(incident_id: int, kind: str, tier: int, who: str, channel: str) -> str:
    """Idempotency key of one message: one incident, one step, one person, one channel."""
    return f"{incident_id}:{kind}:{tier}:{who}:{channel}"


def retry_delay(attempts: int, base: float, cap: float,
                uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Jittered exponential backoff: half to all of ``base * 2**(attempts-1)``, capped."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return uniform(ceiling / 2, ceiling)
