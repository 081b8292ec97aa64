"""Outbound JSON webhooks: the outbox body is already the JSON document to POST."""

from __future__ import annotations

import urllib.error
import urllib.request

from ..errors import DeliveryError


def send(url: str, body: str, timeout: float) -> str | None:
    # Policy webhook URLs are validated as http(s), so no file:// surprises.
    request = urllib.request.Request(url, data=body.encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return f"http-{response.status}"
    except urllib.error.HTTPError as exc:
        retry = exc.code in (408, 429) or exc.code >= 500
        raise DeliveryError(f"webhook answered HTTP {exc.code}", permanent=not retry) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook unreachable: {type(exc).__name__}",
                            permanent=False) from None
