"""The incident lifecycle and delivery rules as plain values: decisions in, actions out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver import lifecycle as lc
from receiver.delivery import (
    Claim,
    Dead,
    Postpone,
    Retry,
    Send,
    SendFailure,
    Sent,
    after_send,
    backoff,
    before_send,
    parse_retry_after,
    rate_limit_until,
)
from receiver.policy import Policy

from ..support.receiver_stack import make_policy

POLICY = Policy.model_validate(make_policy())
NOW = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)
OPEN = lc.Incident(7, "open", "critical", wedding_day=False, customer_impact=False)
HIGHEST = {"uniform": lambda lo, hi: hi}


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def claim(attempts: int = 1, blind: int = 0, expires: float = 600,
          lease_expired: bool = False) -> Claim:
    return Claim(attempts, blind, at(expires), lease_expired)


def test_open_pages_tier1_now_schedules_the_rest_and_vendors_on_a_wedding_day() -> None:
    assert lc.on_open(OPEN, POLICY, NOW) == [lc.PageTier(1), lc.ScheduleTier(2, at(4)),
                                             lc.ScheduleTier(3, at(600))]
    wedding = lc.Incident(7, "open", "critical", wedding_day=True, customer_impact=True)
    assert lc.on_open(wedding, POLICY, NOW) == [lc.PageTier(1), lc.ScheduleTier(2, at(2)),
                                                lc.ScheduleTier(3, at(300)),
                                                lc.ScheduleVendors(NOW)]
    warning = lc.Incident(7, "open", "warning", wedding_day=False, customer_impact=True)
    assert lc.on_open(warning, POLICY, NOW) == [lc.PageTier(1)]  # one tier, no vendors


def test_joining_alerts_page_again_only_when_worse() -> None:
    assert lc.on_alerts_joined(OPEN, "warning", False, False, POLICY, NOW) == []
    assert lc.on_alerts_joined(OPEN, "critical", False, False, POLICY, NOW) == []
    acked = lc.Incident(7, "acknowledged", "critical", False, False)
    assert lc.on_alerts_joined(acked, "emergency", False, False, POLICY, NOW) == [
        lc.RaiseLevel("emergency"), lc.SetState("open"), lc.CancelPending(("tier",)),
        lc.PageTier(1), lc.ScheduleTier(2, at(4)), lc.ScheduleTier(3, at(600))]
    wedding = lc.Incident(7, "open", "critical", wedding_day=True, customer_impact=False)
    assert lc.on_alerts_joined(wedding, "critical", True, True, POLICY, NOW) == [
        lc.ScheduleVendors(NOW)]
    done = lc.Incident(7, "resolved", "critical", False, False)
    assert lc.on_alerts_joined(done, "emergency", True, True, POLICY, NOW) == []


def test_tier_due_pages_only_an_open_incident_within_its_level() -> None:
    assert lc.on_tier_due(OPEN, 2, POLICY) == [lc.PageTier(2), lc.FinishStep("done")]
    acked = lc.Incident(7, "acknowledged", "critical", False, False)
    assert lc.on_tier_due(acked, 2, POLICY) == [lc.FinishStep("cancelled")]
    warning = lc.Incident(7, "open", "warning", False, False)
    assert lc.on_tier_due(warning, 2, POLICY) == [lc.FinishStep("cancelled")]


def test_ack_stops_our_people_resolve_stops_everything_and_tells_everyone() -> None:
    assert lc.on_ack(OPEN, "alice") == [lc.SetState("acknowledged", "alice"),
                                        lc.CancelPending(("tier",))]
    acked = lc.Incident(7, "acknowledged", "critical", False, False)
    assert lc.on_ack(acked, "bob") == []  # idempotent
    expected = [lc.SetState("resolved"), lc.CancelPending(("tier", "vendors", "couples")),
                lc.TellPagedResolved(), lc.TellVendorsResolved(), lc.TellCouplesResolved()]
    assert lc.on_resolved(OPEN, POLICY) == expected
    assert lc.on_resolved(acked, POLICY) == expected
    assert lc.on_resolved(lc.Incident(7, "resolved", "critical", False, False), POLICY) == []


def test_an_unreachable_tier_brings_the_next_one_forward_or_says_nobody() -> None:
    assert lc.on_tier_unreachable(OPEN, 1, "pending") == [lc.BringNextTierForward(1)]
    assert lc.on_tier_unreachable(OPEN, 1, "done") == []  # already paged
    assert lc.on_tier_unreachable(OPEN, 3, None) == [lc.NobodyReached(3)]
    acked = lc.Incident(7, "acknowledged", "critical", False, False)
    assert lc.on_tier_unreachable(acked, 1, "pending") == []


def test_before_send_expires_postpones_and_allows_one_blind_resend() -> None:
    assert before_send(claim(expires=-1), NOW, None) == Dead(
        "expired: older than delivery.max_age_seconds", outcome="expired")
    assert before_send(claim(), NOW, at(30)) == Postpone(at(30))
    assert before_send(claim(expires=10), NOW, at(30)) == Postpone(at(10))
    assert before_send(claim(), NOW, None) == Send()
    assert before_send(claim(lease_expired=True), NOW, None) == Send(blind=True)
    assert isinstance(before_send(claim(blind=1, lease_expired=True), NOW, None), Dead)


def test_after_send_retries_until_expiry_and_dead_letters_only_per_recipient_errors() -> None:
    delivery = POLICY.delivery  # retry base 0.2 s, cap 1 s
    assert after_send(claim(), None, delivery, NOW) == Sent()
    assert after_send(claim(), SendFailure("21211", permanent=True), delivery, NOW) == \
        Dead("21211")
    ours = after_send(claim(attempts=40), SendFailure("401", ours=True), delivery, NOW, **HIGHEST)
    assert ours == Retry(at(1.0), "401", config_fault=True)  # never gives up before expiry
    late = after_send(claim(attempts=3), SendFailure("429", retry_after=30), delivery, NOW,
                      **HIGHEST)
    assert late == Retry(at(30), "429")  # Retry-After beats our backoff
    capped = after_send(claim(expires=5), SendFailure("429", retry_after=300), delivery, NOW)
    assert capped == Retry(at(5), "429")  # never later than expiry
    unknown = after_send(claim(), SendFailure("no answer", ambiguous=True), delivery, NOW)
    assert unknown == Retry(at(0.2), "no answer", ambiguous=True)
    again = after_send(claim(blind=1), SendFailure("no answer", ambiguous=True), delivery, NOW)
    assert isinstance(again, Dead) and "possibly delivered" in again.reason


def test_backoff_rate_limit_and_retry_after_parsing() -> None:
    delivery = POLICY.delivery
    assert backoff(1, delivery, lambda lo, hi: lo) == 0.1
    assert backoff(3, delivery, lambda lo, hi: hi) == 0.8
    assert backoff(1000, delivery, lambda lo, hi: hi) == 1.0
    sends = [at(-800), at(-100), at(-10)]
    assert rate_limit_until(sends, 3, 900, NOW) == at(100)
    assert rate_limit_until(sends, 4, 900, NOW) is None
    assert rate_limit_until(sends, 0, 900, NOW) is None
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Sat, 06 Jun 2026 12:01:00 GMT", NOW) == 60.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_the_external_status_page_is_told_only_of_customer_impact_when_configured() -> None:
    pushing = Policy.model_validate(make_policy(status_page={"webhook_url": "https://s.example"}))
    hit = lc.Incident(8, "open", "critical", wedding_day=False, customer_impact=True)
    assert lc.UpdateStatusPage("disrupted") in lc.on_open(hit, pushing, at(0))
    assert lc.UpdateStatusPage("disrupted") not in lc.on_open(hit, POLICY, at(0))
    assert not any(isinstance(a, lc.UpdateStatusPage) for a in lc.on_open(OPEN, pushing, at(0)))
    assert lc.on_resolved(hit, pushing)[-1] == lc.UpdateStatusPage("operational")
    assert lc.UpdateStatusPage("disrupted") in lc.on_alerts_joined(
        OPEN, "critical", False, True, pushing, at(5))
    assert lc.on_alerts_joined(hit, "critical", False, True, pushing, at(5)) == []


def test_couples_are_scheduled_only_when_enabled_on_a_wedding_day_with_customer_impact() -> None:
    telling = Policy.model_validate(make_policy(couples={"enabled": True, "after_seconds": 900}))
    hit = lc.Incident(8, "open", "critical", wedding_day=True, customer_impact=True)
    assert lc.ScheduleCouples(at(900)) in lc.on_open(hit, telling, at(0))
    assert not any(isinstance(a, lc.ScheduleCouples) for a in lc.on_open(hit, POLICY, at(0)))
    internal = lc.Incident(8, "open", "critical", wedding_day=True, customer_impact=False)
    weekday = lc.Incident(8, "open", "critical", wedding_day=False, customer_impact=True)
    for incident in (internal, weekday):
        assert not any(isinstance(a, lc.ScheduleCouples)
                       for a in lc.on_open(incident, telling, at(0)))
    assert lc.ScheduleCouples(at(905)) in lc.on_alerts_joined(
        internal, "critical", True, True, telling, at(5))
