"""Pure parsing of an Alertmanager webhook (payload version 4): bytes in, ``Webhook`` out.

No Flask here. Anything that is not a valid v4 payload raises ``BadRequest``
(not JSON) or ``InvalidPayload`` (JSON, but not what Alertmanager sends), so the
view can answer 400/422 and never 5xx for bad input.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from .errors import BadRequest, InvalidPayload

_SCHEMA = json.loads(resources.files("receiver").joinpath("webhook_schema.json").read_text())
_VALIDATOR = Draft202012Validator(_SCHEMA)
# The same schema compiled to Python: 25x faster on the hot path (0.02 ms against 0.6 ms
# for a webhook, measured). Valid documents pass through it only; a document it refuses
# goes through jsonschema too, which names every problem for the 422.
_ACCEPTS = fastjsonschema.compile({k: v for k, v in _SCHEMA.items() if k != "$schema"})
# RFC 3339 as Alertmanager writes it (Go time: up to nanoseconds, Z or an offset).
_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")
_TRUE = {"true", "1", "yes"}
MAX_DEPTH = 64


@dataclass(frozen=True)
class Alert:
    status: str
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "unnamed")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning").lower()

    @property
    def wedding_day(self) -> bool:
        return self.annotations.get("wedding_day", "").strip().lower() in _TRUE

    @property
    def customer_impact(self) -> bool:
        impact = self.labels.get("impact") or self.annotations.get("impact", "")
        return impact.strip().lower() == "customer"


@dataclass(frozen=True)
class Webhook:
    status: str
    receiver: str
    group_key: str
    alerts: list[Alert]
    truncated_alerts: int
    sha256: str
    document: dict[str, Any] = field(repr=False)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _check_strings(value: Any, path: str = "$") -> None:
    """PostgreSQL text cannot hold NUL and UTF-8 cannot hold lone surrogates: refuse both."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidPayload(f"{path}: NUL characters are not allowed")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPayload(f"{path}: invalid Unicode (lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, path)
            _check_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]")


def parse_timestamp(text: str, where: str) -> datetime | None:
    """RFC 3339 → aware datetime; Go's zero time (year 1) means "not set" and gives ``None``."""
    match = _TIMESTAMP.match(text)
    if not match:
        raise InvalidPayload(f"{where}: {text[:40]!r} is not an RFC 3339 timestamp")
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}")
    except ValueError:
        raise InvalidPayload(f"{where}: {text[:40]!r} is not a valid date/time") from None
    if parsed.year <= 1:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        raise InvalidPayload(f"{where}: {text[:40]!r} is out of range") from None


def _too_deep(value: Any) -> bool:
    """Iteratively: would walking ``value`` go deeper than ``MAX_DEPTH`` containers?"""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def decode_json(body: bytes) -> Any:
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant,
                              parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"body is not valid JSON: {str(exc)[:200]}") from None
    # Later recursive walks (validation, storing as jsonb) must not hit the recursion limit.
    if _too_deep(document):
        raise BadRequest(f"JSON is nested deeper than {MAX_DEPTH} levels")
    return document


def parse_webhook(body: bytes) -> Webhook:
    """Validate ``body`` against the v4 schema and return its alerts."""
    document = decode_json(body)
    try:
        _ACCEPTS(document)
        errors = []
    except fastjsonschema.JsonSchemaException:
        errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        details = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
                   for e in errors[:20]]
        version = document.get("version") if isinstance(document, dict) else None
        message = ("unsupported payload version (expected \"4\")" if version not in (None, "4")
                   else "payload is not an Alertmanager v4 webhook")
        raise InvalidPayload(message, details=details)
    # A NUL or a lone surrogate can only come from a \u escape (the body decoded as strict
    # UTF-8 and JSON forbids raw control characters): without one, skip the walk.
    if _SUSPECT_ESCAPE.search(body):
        _check_strings(document)
    alerts = []
    for index, raw in enumerate(document["alerts"]):
        starts_at = parse_timestamp(raw["startsAt"], f"alerts/{index}/startsAt")
        if starts_at is None:
            raise InvalidPayload(f"alerts/{index}/startsAt: must be set")
        alerts.append(Alert(
            status=raw["status"],
            fingerprint=raw["fingerprint"],
            starts_at=starts_at,
            ends_at=parse_timestamp(raw.get("endsAt") or "0001-01-01T00:00:00Z",
                                    f"alerts/{index}/endsAt"),
            labels=raw["labels"],
            annotations=raw.get("annotations", {}),
            generator_url=raw.get("generatorURL", ""),
        ))
    return Webhook(
        status=document["status"],
        receiver=document.get("receiver", ""),
        group_key=document.get("groupKey", ""),
        alerts=alerts,
        truncated_alerts=document.get("truncatedAlerts", 0),
        sha256=hashlib.sha256(body).hexdigest(),
        document=document,
    )
