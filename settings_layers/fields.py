"""Field types every settings model of the project validates the same way."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _iana(value: str) -> str:
    try:
        ZoneInfo(value)  # also refuses paths and other non-keys with ValueError
    except (ZoneInfoNotFoundError, ValueError):
        shown = value if len(value) <= 64 else value[:64] + "…"  # a huge value stays out of logs
        raise ValueError(f"unknown IANA time zone {shown!r}") from None
    return value


IanaTimeZone = Annotated[str, AfterValidator(_iana)]
