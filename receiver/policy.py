"""The escalation policy (the ``RECEIVER_CONFIG`` YAML): contacts, tiers, levels, delivery, vendors.

Validated once at start with pydantic; unknown keys are errors so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from settings_layers.fields import IanaTimeZone

from .roster_query import COUPLES, check_vendor_query

Channel = Literal["sms", "email", "webhook"]
Level = Literal["emergency", "critical", "warning", "info"]

DEFAULT_VENDOR_QUERY = """\
SELECT v.id::text AS vendor_id, v.business_name, v.phone, v.email,
       min(w.ceremony_time) AS ceremony_time
  FROM weddings w
  JOIN bookings b ON b.wedding_id = w.id
  JOIN vendors v ON v.id = b.vendor_id
 WHERE w.wedding_date = %(local_date)s
   AND w.status <> 'cancelled' AND b.status <> 'cancelled'
 GROUP BY v.id, v.business_name, v.phone, v.email
 ORDER BY min(w.ceremony_time), v.id"""

DEFAULT_COUPLE_QUERY = """\
SELECT c.id::text AS couple_id, c.partner1_name || ' & ' || c.partner2_name AS couple_names,
       c.phone, c.email, min(w.ceremony_time) AS ceremony_time
  FROM weddings w
  JOIN couples c ON c.id = w.couple_id
 WHERE w.wedding_date = %(local_date)s AND w.status <> 'cancelled'
 GROUP BY c.id, c.partner1_name, c.partner2_name, c.phone, c.email
 ORDER BY min(w.ceremony_time), c.id"""

_PAGE_CHANNELS: tuple[Channel, ...] = ("sms", "email")
_VENDOR_CHANNELS: tuple[Literal["sms", "email"], ...] = ("sms", "email")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = None
    email: str | None = None
    webhook_url: str | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            raise ValueError("must be an E.164 number such as +447700900123")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("is not an email address")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    def address(self, channel: Channel) -> str | None:
        return {"sms": self.phone, "email": self.email, "webhook": self.webhook_url}[channel]


class Tier(_Model):
    name: str = Field(min_length=1, max_length=100)
    after_seconds: float = Field(ge=0, le=86400)
    contacts: list[str] = Field(min_length=1)


class LevelRule(_Model):
    tiers: int = Field(ge=0, le=10, description="how many tiers this level escalates through")
    channels: list[Channel] = Field(default_factory=lambda: list(_PAGE_CHANNELS))


class PeakHours(_Model):
    start: time = time(11, 0)
    end: time = time(18, 0)


class Delivery(_Model):
    """Retry until ``max_age_seconds`` (then the next tier); no attempt cap that gives up sooner."""

    retry_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    retry_max_seconds: float = Field(default=300.0, gt=0, le=86400)
    max_age_seconds: float = Field(default=900.0, gt=0, le=7 * 86400)
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=120,
                                        description="total deadline of one send, end to end")
    senders_per_channel: int = Field(default=2, ge=1, le=16)
    recipient_rate_limit: int = Field(default=10, ge=0, le=1000,
                                      description="messages per person and channel per window; 0 = off")
    recipient_rate_window_seconds: float = Field(default=900.0, gt=0, le=86400)

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: object) -> object:
        if isinstance(data, dict) and "max_attempts" in data:
            raise ValueError("max_attempts was removed: messages are retried until "
                             "max_age_seconds, then the next tier is paged")
        return data


class Vendors(_Model):
    """Who is told on a wedding day, and how the roster of today's vendors is kept.

    ``roster_refresh_seconds``: how often the worker snapshots today's and tomorrow's
    vendors into the receiver's own database (``receiver.roster``), so that a
    monitored-database outage, the worst incident, still reaches the vendors.
    ``query`` is checked when the policy loads (one SELECT naming ``vendor_id``,
    ``phone``, ``email``, optionally ``business_name``, ``ceremony_time``), because a
    bad query would otherwise only fail on a wedding day.
    """

    enabled: bool = True
    channels: list[Literal["sms", "email"]] = Field(
        default_factory=lambda: list(_VENDOR_CHANNELS))
    rate_limit_seconds: float = Field(default=3600.0, ge=0, le=7 * 86400)
    query: str = DEFAULT_VENDOR_QUERY
    query_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    max_vendors: int = Field(default=500, ge=1, le=100_000)
    roster_refresh_seconds: float = Field(default=900.0, ge=60, le=86400)

    @field_validator("query")
    @classmethod
    def _vendor_query(cls, value: str) -> str:
        check_vendor_query(value)
        return value


class Couples(_Model):
    """Couples with a wedding today, told when a customer-impacting incident lasts.

    Off by default. On a wedding day, an incident with ``impact="customer"`` still
    unresolved ``after_seconds`` after it opened sends each couple of the day one
    message, and one more when it is fixed: never more than that pair per couple per
    day, however many incidents there are. Their contacts come from a roster snapshot
    taken with the vendors' (so a WedSync outage still reaches them); ``query`` returns
    ``couple_id``, ``phone``, ``email`` and optionally ``couple_names``,
    ``ceremony_time``, checked at start like the vendor query.
    """

    enabled: bool = False
    after_seconds: float = Field(default=1800.0, ge=0, le=86400)
    channels: list[Literal["sms", "email"]] = Field(
        default_factory=lambda: list(_VENDOR_CHANNELS[:1]))
    query: str = DEFAULT_COUPLE_QUERY

    @field_validator("query")
    @classmethod
    def _couple_query(cls, value: str) -> str:
        check_vendor_query(value, COUPLES)
        return value


class StatusPage(_Model):
    """The public status page (``/status``, ``/status.json``): customer words only.

    An incident's text is ``messages[alertname]``, else the alert's
    ``customer_message`` annotation, else ``default_message``. With ``webhook_url``
    set, each change (a customer-impacting incident opens or resolves) is also
    pushed there through the outbound webhook channel, the body rendered from the
    ``status_webhook`` template (a Statuspage-style component update by default).
    """

    title: str = "WedSync status"
    messages: dict[str, str] = Field(default_factory=dict)
    default_message: str = ("Some parts of WedSync may be slow or unavailable. "
                            "Our engineers are working on it.")
    show_resolved_seconds: float = Field(default=86400.0, ge=0, le=30 * 86400)
    cache_seconds: float = Field(default=10.0, ge=0, le=300,
                                 description="one database query per this many seconds")
    webhook_url: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value


def _default_levels() -> dict[Level, LevelRule]:
    return {
        "emergency": LevelRule(tiers=10, channels=["sms", "email", "webhook"]),
        "critical": LevelRule(tiers=10, channels=["sms", "email"]),
        "warning": LevelRule(tiers=1, channels=["email"]),
        "info": LevelRule(tiers=0, channels=[]),
    }


class Policy(_Model):
    timezone: IanaTimeZone = "Europe/London"
    peak_hours: PeakHours = PeakHours()
    wedding_day_wait_factor: float = Field(default=0.5, gt=0, le=1)
    contacts: list[Contact] = Field(min_length=1)
    tiers: list[Tier] = Field(min_length=1)
    levels: dict[Level, LevelRule] = Field(default_factory=_default_levels)
    delivery: Delivery = Delivery()
    vendors: Vendors = Vendors()
    couples: Couples = Couples()
    status_page: StatusPage = StatusPage()
    templates: dict[str, str] = Field(default_factory=dict)

    @field_validator("levels")
    @classmethod
    def _all_levels(cls, value: dict[Level, LevelRule]) -> dict[Level, LevelRule]:
        return {**_default_levels(), **value}

    @model_validator(mode="after")
    def _references(self) -> Policy:
        names = [c.name for c in self.contacts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"contacts: duplicate name(s) {', '.join(duplicates)}")
        for index, tier in enumerate(self.tiers):
            unknown = [n for n in tier.contacts if n not in names]
            if unknown:
                raise ValueError(f"tiers.{index}.contacts: unknown contact(s) {', '.join(unknown)}")
        delays = [t.after_seconds for t in self.tiers]
        if delays != sorted(delays):
            raise ValueError("tiers: after_seconds must not decrease from one tier to the next")
        from .render import TEMPLATE_NAMES

        unknown_templates = sorted(set(self.templates) - set(TEMPLATE_NAMES))
        if unknown_templates:
            raise ValueError(f"templates: unknown template(s) {', '.join(unknown_templates)}; "
                             f"known: {', '.join(TEMPLATE_NAMES)}")
        return self

    def contact(self, name: str) -> Contact:
        return next(c for c in self.contacts if c.name == name)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
