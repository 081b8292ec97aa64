"""The statements: settings section: defaults, overrides, every error at once."""

from __future__ import annotations

import pytest

from exporter.errors import ConfigError
from exporter.settings import load_settings


def test_defaults_follow_the_demo_schema_and_the_spec() -> None:
    cfg = load_settings(environ={}).statements
    assert cfg.top_n == 50 and cfg.slow_threshold_ms == 500
    assert cfg.slow_threshold(wedding_day=False) == 500 and cfg.slow_threshold(True) == 250
    assert cfg.table_domains == {"guests": "guest_list", "bookings": "vendor_schedule",
                                 "vendors": "vendor_schedule", "venues": "venue_availability",
                                 "payments": "payment", "weddings": "wedding",
                                 "couples": "wedding"}
    assert cfg.advisor.enabled and cfg.advisor.interval_seconds == 600
    assert cfg.advisor.min_saving_ratio == 0.5


def test_environment_overrides_nested_keys() -> None:
    cfg = load_settings(environ={
        "DBHEALTH_STATEMENTS__TOP_N": "100",
        "DBHEALTH_STATEMENTS__ADVISOR__ENABLED": "false",
        "DBHEALTH_STATEMENTS__TABLE_DOMAINS": '{"Guests": "guest_list", "crm.leads": "booking"}',
    }).statements
    assert cfg.top_n == 100 and not cfg.advisor.enabled
    assert cfg.table_domains == {"guests": "guest_list", "crm.leads": "booking"}


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={}, overrides={"statements": {
            "top_n": 0, "table_domains": {"guests": "guestlist", "bad name": "other"},
            "domain_priority": ["weddings"], "advisor": {"min_saving_ratio": 1.5},
            "typo": 1}})
    text = "\n".join(err.value.problems)
    for expected in ("statements.top_n", "guestlist", "bad name", "statements.domain_priority",
                     "statements.advisor.min_saving_ratio", "statements.typo"):
        assert expected in text
