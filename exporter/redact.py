"""Secrets out of anything shown or logged: the one place that knows how to mask them."""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@host — the user may be empty (redis://:password@host).
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)(\S+)")


def mask_url(url: str) -> str:
    """Hide the password of a URL or of a libpq ``password=`` pair."""
    return _KV_PASSWORD.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", url))
