"""Masking of phone numbers, email addresses and DSN passwords before they reach a log line."""

from __future__ import annotations

import re

# The user may be empty (``smtp://:secret@host``): the password must go all the same.
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def mask_phone(phone: str) -> str:
    """``+447700900123`` → ``+44*******23``: enough to tell two numbers apart, not to dial."""
    digits = phone.strip()
    if len(digits) <= 5:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_email(email: str) -> str:
    """``alice@example.com`` → ``a***@e***.com``."""
    local, sep, domain = email.partition("@")
    if not sep:
        return "***"
    host, dot, tld = domain.rpartition(".")
    masked_domain = f"{host[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


def mask_url(url: str) -> str:
    """Hide the password in a URL or libpq key=value DSN."""
    return _KV_PASSWORD.sub(r"\1****", _URL_PASSWORD.sub(r"\1****@", url))


def mask_recipient(channel: str, recipient: str) -> str:
    """Mask a recipient the way its channel needs (webhook URLs keep only scheme and host)."""
    if channel == "sms":
        return mask_phone(recipient)
    if channel == "email":
        return mask_email(recipient)
    match = re.match(r"^(https?://[^/?#]+)", mask_url(recipient))
    return f"{match.group(1)}/…" if match else "***"
