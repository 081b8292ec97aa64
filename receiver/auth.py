"""Bearer-token and/or HTTP basic authentication, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from .errors import Unauthorized
from .settings import Settings


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def check_authorization(header: str | None, settings: Settings) -> str:
    """Return who authenticated ("bearer" or the basic user) or raise ``Unauthorized``."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and settings.auth_token is not None:
        if _same(credentials, settings.auth_token.get_secret_value()):
            return "bearer"
    elif (scheme.lower() == "basic" and settings.basic_auth_user is not None
          and settings.basic_auth_password is not None):
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed basic credentials") from None
        # Evaluate both comparisons so timing does not reveal which part was wrong.
        user_ok = _same(user, settings.basic_auth_user)
        password_ok = _same(password, settings.basic_auth_password.get_secret_value())
        if user_ok and password_ok:
            return user
    raise Unauthorized("missing or invalid credentials")
