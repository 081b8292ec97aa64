"""Pure escalation decisions, webhook parsing and masking: plain values in, plain values out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receiver.errors import InvalidPayload
from receiver.escalation import emergency_level, is_peak
from receiver.lifecycle import tier_plan
from receiver.masking import mask_email, mask_phone, mask_recipient, mask_url
from receiver.messages import tier_recipients
from receiver.policy import Policy
from receiver.webhook import Alert, parse_timestamp

from ..support.receiver_stack import make_policy

POLICY = Policy.model_validate({**make_policy(), "timezone": "Europe/London",
                                "peak_hours": {"start": "11:00", "end": "18:00"}})
SATURDAY_NOON_BST = datetime(2026, 6, 6, 11, 30, tzinfo=UTC)  # 12:30 in London (BST)
SATURDAY_EVENING = datetime(2026, 6, 6, 18, 30, tzinfo=UTC)  # 19:30 London


def _alert(severity: str, wedding_day: bool) -> Alert:
    return Alert("firing", "f", SATURDAY_NOON_BST, None,
                 {"alertname": "X", "severity": severity},
                 {"wedding_day": "1" if wedding_day else "false"})


@pytest.mark.parametrize(("severity", "wedding_day", "now", "level"), [
    ("critical", True, SATURDAY_NOON_BST, "emergency"),
    ("critical", True, SATURDAY_EVENING, "critical"),
    ("critical", False, SATURDAY_NOON_BST, "critical"),
    ("warning", True, SATURDAY_NOON_BST, "critical"),
    ("warning", False, SATURDAY_NOON_BST, "warning"),
    ("info", True, SATURDAY_NOON_BST, "info"),
    ("bogus", False, SATURDAY_NOON_BST, "info"),
])
def test_emergency_level(severity: str, wedding_day: bool, now: datetime, level: str) -> None:
    assert emergency_level(_alert(severity, wedding_day), now, POLICY) == level


def test_peak_hours_are_local_time_across_dst() -> None:
    assert is_peak(datetime(2026, 6, 6, 10, 30, tzinfo=UTC), POLICY)  # 11:30 BST
    assert not is_peak(datetime(2026, 12, 5, 10, 30, tzinfo=UTC), POLICY)  # 10:30 GMT


def test_wedding_day_halves_waits_and_levels_limit_tiers() -> None:
    assert tier_plan("critical", False, POLICY).delays == (0, 4, 600)
    assert tier_plan("critical", True, POLICY).delays == (0, 2, 300)
    _name, recipients = tier_recipients(POLICY, "critical", 1)
    assert [(r.contact, r.channel) for r in recipients] == [("alice", "sms"), ("alice", "email")]
    assert tier_plan("info", False, POLICY).delays == ()


def test_timestamps_as_alertmanager_writes_them() -> None:
    parsed = parse_timestamp("2026-06-06T12:00:00.123456789Z", "x")
    assert parsed == datetime(2026, 6, 6, 12, 0, 0, 123456, tzinfo=UTC)
    assert parse_timestamp("2026-06-06T13:00:00+01:00", "x") == datetime(2026, 6, 6, 12,
                                                                          tzinfo=UTC)
    assert parse_timestamp("0001-01-01T00:00:00Z", "x") is None
    for bad in ("2026-13-01T00:00:00Z", "noon", "2026-06-06", "9999-12-31T23:59:59-23:59"):
        with pytest.raises(InvalidPayload):
            parse_timestamp(bad, "x")


def test_masking() -> None:
    assert mask_phone("+447700900123") == "+44********23"
    assert mask_email("alice@wedsync.example") == "a***@w***.example"
    assert mask_url("postgresql://u:secret@h/db") == "postgresql://u:****@h/db"
    assert mask_url("host=h password=secret") == "host=h password=****"
    assert mask_url("smtp://:secret@mail:587") == "smtp://:****@mail:587"
    assert mask_recipient("webhook", "https://chat.example/hooks/abc?token=x") == \
        "https://chat.example/…"


def test_escalations_by_tier_cover_the_policy_and_keep_a_former_policys_tiers() -> None:
    from receiver.metrics import ReceiverCollector

    family = ReceiverCollector._tiers([(1, 3), (4, 1)], policy_tiers=2)
    assert [(s.labels["tier"], s.value) for s in family.samples if s.name.endswith("_total")] == [
        ("1", 3), ("2", 0), ("4", 1)]
