"""The SMTP client of ``send-links-email``: hand one message to the mail server, and say
plainly what became of it.

Every aiosmtplib error is translated here: a refusal for good (a recipient or the message
refused with a 5xx) is ChannelRefused, an incident; anything else (no connection, a 4xx, a
dropped connection, a timeout) is ChannelUnavailable, retried with the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from worker.errors import ChannelRefused, ChannelUnavailable
from worker.settings import SMTP_PORT, SMTPS_PORT, WorkerSettings

# SMTP reply codes from 500 on are permanent (RFC 5321 §4.2.1): sending again cannot help.
PERMANENT_REPLY = 500


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # starttls, tls or none
    from_address: str
    timeout: dt.timedelta
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> SmtpConfig | None:
        """The mail server, or None when none is configured (the topic then raises incidents)."""
        if not settings.smtp_host or not settings.smtp_from:
            return None
        default_port = SMTPS_PORT if settings.smtp_security == "tls" else SMTP_PORT
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port or default_port,
            security=settings.smtp_security,
            from_address=settings.smtp_from,
            timeout=settings.smtp_timeout,
            username=settings.smtp_username,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
        )


async def send(config: SmtpConfig, message: EmailMessage) -> list[str]:
    """Hand ``message`` to the mail server; returns the recipients it refused (others got it)."""
    tls = config.security != "none"
    try:
        refused, _ = await aiosmtplib.send(
            message,
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            timeout=config.timeout.total_seconds(),
            tls_context=ssl.create_default_context(cafile=config.ca_file) if tls else None,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refusals = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        raise ChannelRefused(f"the mail server refused every recipient ({refusals})") from exc
    except aiosmtplib.SMTPResponseException as exc:
        what = f"{type(exc).__name__}: {exc.code} {exc.message}"[:400]
        if exc.code >= PERMANENT_REPLY and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            raise ChannelRefused(f"the mail server refused the message ({what})") from exc
        raise ChannelUnavailable(f"the mail server did not take the message ({what})") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        what = f"{type(exc).__name__}: {exc}"[:400]
        raise ChannelUnavailable(
            f"the mail server {config.host}:{config.port} could not be reached or dropped "
            f"the connection ({what})"
        ) from exc
    return sorted(refused)
