"""The incident lifecycle as pure decisions: (incident, event, policy, now) → actions.

No SQL and no Flask here. ``incidents.py`` turns each action into statements,
so what ack, resolve, expiry and dead-letters *do* is tested with plain values
(``tests/receiver/test_lifecycle.py``) and only executed elsewhere.

An incident is one Alertmanager group from its first firing alert until all of
its alerts have resolved. Events: it opens, more alerts join it, a tier comes
due, it is acknowledged, it resolves, a tier turns out to be unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from .policy import Level, Policy

State = Literal["open", "acknowledged", "resolved"]
_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2, "emergency": 3}


def worse(a: Level, b: Level) -> Level:
    """The more urgent of two levels."""
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(frozen=True)
class Incident:
    """What the decisions need to know about one incident."""

    id: int
    state: State
    level: Level
    wedding_day: bool
    customer_impact: bool


# --- actions -------------------------------------------------------------------------

@dataclass(frozen=True)
class PageTier:
    """Enqueue tier ``tier``'s pages now (one message per person and channel)."""

    tier: int


@dataclass(frozen=True)
class ScheduleTier:
    tier: int
    due_at: datetime


@dataclass(frozen=True)
class ScheduleVendors:
    due_at: datetime


@dataclass(frozen=True)
class SetState:
    state: State
    by: str | None = None  # who acknowledged


@dataclass(frozen=True)
class RaiseLevel:
    level: Level


@dataclass(frozen=True)
class CancelPending:
    """Cancel pending steps of these kinds, and pages not yet claimed for sending."""

    step_kinds: tuple[str, ...]


@dataclass(frozen=True)
class FinishStep:
    status: Literal["done", "cancelled"]


@dataclass(frozen=True)
class TellPagedResolved:
    """A "resolved" message to everyone whose page was delivered."""


@dataclass(frozen=True)
class TellVendorsResolved:
    """A "fixed" message to every vendor who was told of the problem."""


@dataclass(frozen=True)
class BringNextTierForward:
    """Make the next pending tier due now (nobody in ``after_tier`` could be reached)."""

    after_tier: int


@dataclass(frozen=True)
class NobodyReached:
    """The last tier is unreachable too: say so loudly (audit row, metric, error log)."""

    tier: int


@dataclass(frozen=True)
class ScheduleCouples:
    """Tell today's couples at ``due_at`` if the incident is still unresolved then."""

    due_at: datetime


@dataclass(frozen=True)
class TellCouplesResolved:
    """A "fixed" message to every couple who was told of this incident."""


@dataclass(frozen=True)
class UpdateStatusPage:
    """Push the public status to the external status page (the policy's webhook)."""

    status: Literal["disrupted", "operational"]


Action = (PageTier | ScheduleTier | ScheduleVendors | SetState | RaiseLevel | CancelPending
          | FinishStep | TellPagedResolved | TellVendorsResolved | BringNextTierForward
          | NobodyReached | UpdateStatusPage | ScheduleCouples | TellCouplesResolved)


@dataclass(frozen=True)
class TierPlan:
    """When each tier of a level is paged, relative to the incident's start."""

    delays: tuple[float, ...] = field(default_factory=tuple)  # index 0 = tier 1


def tier_plan(level: Level, wedding_day: bool, policy: Policy) -> TierPlan:
    """Tiers this level escalates through, waits shortened on wedding days."""
    factor = policy.wedding_day_wait_factor if wedding_day else 1.0
    count = policy.levels[level].tiers
    return TierPlan(tuple(t.after_seconds * factor for t in policy.tiers[:count]))


def _schedule(plan: TierPlan, now: datetime, from_tier: int = 1) -> list[Action]:
    actions: list[Action] = []
    for number, delay in enumerate(plan.delays, start=1):
        if number < from_tier:
            continue
        if delay <= 0:
            actions.append(PageTier(number))
        else:
            actions.append(ScheduleTier(number, now + timedelta(seconds=delay)))
    return actions


def on_open(incident: Incident, policy: Policy, now: datetime) -> list[Action]:
    """A new incident: page the immediate tiers, schedule the later ones, and the vendors."""
    actions = _schedule(tier_plan(incident.level, incident.wedding_day, policy), now)
    if incident.customer_impact and incident.wedding_day and policy.vendors.enabled:
        actions.append(ScheduleVendors(now))
    if incident.customer_impact and policy.status_page.webhook_url:
        actions.append(UpdateStatusPage("disrupted"))
    if incident.customer_impact and incident.wedding_day and policy.couples.enabled:
        actions.append(ScheduleCouples(now + timedelta(seconds=policy.couples.after_seconds)))
    return actions


def on_alerts_joined(incident: Incident, joined_level: Level, joined_wedding_day: bool,
                     joined_customer_impact: bool, policy: Policy,
                     now: datetime) -> list[Action]:
    """More alerts of the same group: nothing new unless they make it worse.

    A worse level re-pages from tier 1 at the new level (even after an ack: what was
    acknowledged was a smaller problem). Customer impact arriving on a wedding day
    brings the vendors in, once.
    """
    if incident.state == "resolved":
        return []
    actions: list[Action] = []
    level = worse(incident.level, joined_level)
    if level != incident.level:
        actions += [RaiseLevel(level), SetState("open"), CancelPending(("tier",))]
        actions += _schedule(tier_plan(level, incident.wedding_day or joined_wedding_day,
                                       policy), now)
    if (joined_customer_impact and not incident.customer_impact and policy.vendors.enabled
            and (incident.wedding_day or joined_wedding_day)):
        actions.append(ScheduleVendors(now))
    newly_impacting = joined_customer_impact and not incident.customer_impact
    if newly_impacting and policy.status_page.webhook_url:
        actions.append(UpdateStatusPage("disrupted"))
    if (newly_impacting and policy.couples.enabled
            and (incident.wedding_day or joined_wedding_day)):
        actions.append(ScheduleCouples(now + timedelta(seconds=policy.couples.after_seconds)))
    return actions


def on_tier_due(incident: Incident, tier: int, policy: Policy) -> list[Action]:
    """A scheduled tier: page it only while the incident is open and the level reaches it."""
    if incident.state != "open" or tier > policy.levels[incident.level].tiers:
        return [FinishStep("cancelled")]
    return [PageTier(tier), FinishStep("done")]


def on_ack(incident: Incident, by: str) -> list[Action]:
    """Acknowledged: stop paging our people. Vendors are still affected; resolution stops them."""
    if incident.state != "open":
        return []
    return [SetState("acknowledged", by), CancelPending(("tier",))]


def on_resolved(incident: Incident, policy: Policy) -> list[Action]:
    """Every alert of the group resolved: stop everything, tell those who heard of it."""
    if incident.state == "resolved":
        return []
    actions: list[Action] = [SetState("resolved"), CancelPending(("tier", "vendors", "couples")),
                             TellPagedResolved(), TellVendorsResolved(), TellCouplesResolved()]
    if incident.customer_impact and policy.status_page.webhook_url:
        actions.append(UpdateStatusPage("operational"))
    return actions


def on_tier_unreachable(incident: Incident, tier: int,
                        next_tier_step: str | None) -> list[Action]:
    """Every message of ``tier`` is dead, expired or failing through our own fault.

    Waiting out the next tier's delay would leave nobody paged: it is paged now.
    ``next_tier_step`` is the status of tier+1's step (None: there is no next tier).
    """
    if incident.state != "open":
        return []
    if next_tier_step is None:
        return [NobodyReached(tier)]
    return [BringNextTierForward(tier)] if next_tier_step == "pending" else []
