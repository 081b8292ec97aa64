"""Email over SMTP: STARTTLS when the server offers it (``auto``) or always (``required``).

4xx replies and connection failures are retried; 5xx replies (bad address,
rejected) are permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from ..errors import DeliveryError
from ..settings import Settings


def _connect(settings: Settings, timeout: float) -> smtplib.SMTP:
    assert settings.smtp_url is not None
    parts = urlsplit(settings.smtp_url)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname or "", parts.port or 465, timeout=timeout,
                                  context=context)
    else:
        client = smtplib.SMTP(parts.hostname or "", parts.port or 587, timeout=timeout)
        client.ehlo()
        if settings.smtp_starttls != "off" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        elif settings.smtp_starttls == "required":
            client.close()
            raise DeliveryError("SMTP server does not offer STARTTLS (required by settings)",
                                permanent=False)
    if parts.username:
        client.login(unquote(parts.username), unquote(parts.password or ""))
    return client


def send(settings: Settings, to: str, subject: str, body: str, timeout: float) -> str | None:
    if settings.smtp_url is None:
        raise DeliveryError("email is not configured (RECEIVER_SMTP_URL)", permanent=False)
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    # Our own id, recorded in the outbox, lets an operator find the message in mail logs.
    message["Message-ID"] = make_msgid(domain="dbhealth-receiver")
    message.set_content(body)
    try:
        client = _connect(settings, timeout)
        try:
            client.send_message(message)
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(f"SMTP refused the recipient ({codes})",
                            permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP answered {exc.smtp_code}",
                            permanent=exc.smtp_code >= 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP unavailable: {type(exc).__name__}", permanent=False) from None
    return message.get("Message-ID")
