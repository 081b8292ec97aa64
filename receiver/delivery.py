"""Pure delivery decisions: what to do with a claimed message before and after its send.

No SQL, no network. The worker (``worker.py``) asks these functions and executes
the answer, so the rules below are tested with plain values:

- a message older than its ``expires_at`` is not sent late: it expires (and the
  tier's reachability is re-checked, which may bring the next tier forward);
- a recipient over its rate limit waits for its window (no attempt counted);
- a lease that ran out means the claimer died mid-send: the outcome is unknown;
- after an unknown outcome (accepted but unanswered) we re-send blindly at most
  once, then dead-letter ("possibly delivered") rather than page someone 6 times;
- per-recipient permanent errors dead-letter; our own faults (401/403: an expired
  credential) and everything else retry until ``expires_at``, honouring Retry-After.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from .policy import Delivery

MAX_BLIND_RETRIES = 1


@dataclass(frozen=True)
class SendFailure:
    """How a send failed, as the channel saw it (never carries a recipient or a body)."""

    reason: str
    permanent: bool = False  # this recipient will never accept it (invalid number, 550)
    ours: bool = False  # our configuration is at fault (401/403, sender refused)
    ambiguous: bool = False  # the request went out and no answer came back
    retry_after: float | None = None  # seconds the provider asked us to wait


class DeliveryError(Exception):
    """Raised by a channel's ``send``; carries how it failed."""

    def __init__(self, failure: SendFailure):
        super().__init__(failure.reason)
        self.failure = failure


@dataclass(frozen=True)
class Claim:
    """The facts about a claimed message that the decisions use."""

    attempts: int  # including the one just claimed
    blind_retries: int
    expires_at: datetime
    lease_expired: bool  # claimed again after its previous claimer went silent


@dataclass(frozen=True)
class Send:
    blind: bool = False  # a re-send after an unknown outcome


@dataclass(frozen=True)
class Postpone:
    until: datetime


@dataclass(frozen=True)
class Retry:
    at: datetime
    reason: str
    ambiguous: bool = False
    config_fault: bool = False


@dataclass(frozen=True)
class Dead:
    reason: str
    outcome: Literal["dead", "expired"] = "dead"
    config_fault: bool = False


@dataclass(frozen=True)
class Sent:
    pass


Before = Send | Postpone | Dead
After = Sent | Retry | Dead


def rate_limit_until(recent_sends: list[datetime], limit: int, window_seconds: float,
                     now: datetime) -> datetime | None:
    """When the recipient may get its next message, or None if it may now.

    ``recent_sends`` are the send times inside the window; the oldest of the last
    ``limit`` has to leave the window first.
    """
    if limit <= 0:
        return None
    inside = sorted(t for t in recent_sends if t > now - timedelta(seconds=window_seconds))
    if len(inside) < limit:
        return None
    return inside[-limit] + timedelta(seconds=window_seconds)


def before_send(claim: Claim, now: datetime, rate_limited_until: datetime | None) -> Before:
    """Expire, postpone, or send (blindly once, when the previous claimer went silent)."""
    if now >= claim.expires_at:
        return Dead("expired: older than delivery.max_age_seconds", outcome="expired")
    if claim.lease_expired:
        if claim.blind_retries >= MAX_BLIND_RETRIES:
            return Dead("outcome unknown: the sender stopped mid-send again; possibly delivered")
        return Send(blind=True)
    if rate_limited_until is not None and rate_limited_until > now:
        return Postpone(min(rate_limited_until, claim.expires_at))
    return Send()


def backoff(attempts: int, delivery: Delivery,
            uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Jittered exponential backoff: half to all of ``base * 2**(attempts-1)``, capped."""
    ceiling = min(delivery.retry_max_seconds,
                  delivery.retry_base_seconds * 2 ** min(max(0, attempts - 1), 30))
    return uniform(ceiling / 2, ceiling)


def after_send(claim: Claim, failure: SendFailure | None, delivery: Delivery, now: datetime,
               uniform: Callable[[float, float], float] = random.uniform) -> After:
    """The outcome of one send → mark sent, retry at some time, or dead-letter."""
    if failure is None:
        return Sent()
    if failure.permanent:
        return Dead(failure.reason)
    if failure.ambiguous:
        # ``claim.blind_retries`` includes this send if it was itself a blind re-send.
        if claim.blind_retries >= MAX_BLIND_RETRIES:
            return Dead(f"{failure.reason}; outcome unknown again, possibly delivered")
        # Soon, not at once: the provider may be the thing that is slow. The next claim
        # of this row is the one blind re-send (it sees ``blind_retries`` below the limit).
        return Retry(now + timedelta(seconds=delivery.retry_base_seconds), failure.reason,
                     ambiguous=True)
    wait = backoff(claim.attempts, delivery, uniform)
    if failure.retry_after is not None:
        wait = max(wait, min(failure.retry_after, delivery.max_age_seconds))
    # Never later than expiry: the next claim then expires it (and checks the tier).
    at = min(now + timedelta(seconds=wait), claim.expires_at)
    return Retry(at, failure.reason, config_fault=failure.ours)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min((when - now).total_seconds(), 86400.0))
