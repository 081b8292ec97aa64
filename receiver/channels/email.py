"""Email over SMTP: STARTTLS when the server offers it (``auto``) or always (``required``).

Treatment: a 5xx refusal of the recipient dead-letters (that address will never
take it); authentication or sender refusals and a missing STARTTLS are our
configuration's fault (retried, and loud); 4xx replies and connection trouble are
retried. A failure after the message data went out is an unknown outcome: the
relay may have queued it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from ..delivery import DeliveryError, SendFailure
from ..settings import Settings
from .deadline import SendDeadline


def _connect(settings: Settings, running: SendDeadline) -> smtplib.SMTP:
    assert settings.smtp_url is not None
    parts = urlsplit(settings.smtp_url)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(timeout=running.remaining(), context=context)
        running.watch(lambda: client.sock)
        client.connect(parts.hostname or "", parts.port or 465)
    else:
        client = smtplib.SMTP(timeout=running.remaining())
        running.watch(lambda: client.sock)
        client.connect(parts.hostname or "", parts.port or 587)
        client.ehlo()
        if settings.smtp_starttls != "off" and client.has_extn("starttls"):
            client.starttls(context=context)
            running.watch(lambda: client.sock)  # the TLS-wrapped socket
            client.ehlo()
        elif settings.smtp_starttls == "required":
            client.close()
            raise DeliveryError(SendFailure(
                "SMTP server does not offer STARTTLS (required by settings)", ours=True))
    if parts.username:
        client.login(unquote(parts.username), unquote(parts.password or ""))
    return client


def _message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    # Our own id, recorded in the outbox, lets an operator find the message in mail logs.
    message["Message-ID"] = make_msgid(domain="dbhealth-receiver")
    message.set_content(body)
    return message


def send(settings: Settings, to: str, subject: str, body: str,
         running: SendDeadline) -> str | None:
    if settings.smtp_url is None:
        raise DeliveryError(SendFailure("email is not configured (RECEIVER_SMTP_URL)", ours=True))
    message = _message(settings, to, subject, body)
    data_started = False
    try:
        client = _connect(settings, running)
        try:
            client.mail(settings.smtp_from)
            code, _ = client.rcpt(to)
            if code >= 400:
                raise smtplib.SMTPRecipientsRefused({to: (code, b"")})
            data_started = True
            client.data(message.as_bytes())
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(SendFailure(f"SMTP refused the recipient ({codes})",
                                        permanent=all(c >= 500 for c in codes))) from None
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
        raise DeliveryError(SendFailure(f"SMTP refused our login or sender ({exc.smtp_code})",
                                        ours=True)) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(SendFailure(f"SMTP answered {exc.smtp_code}",
                                        permanent=exc.smtp_code >= 500)) from None
    except (smtplib.SMTPException, OSError) as exc:
        late = " (no answer within the send deadline)" if running.expired else ""
        raise DeliveryError(SendFailure(f"SMTP unavailable: {type(exc).__name__}{late}",
                                        ambiguous=data_started)) from None
    return message.get("Message-ID")
