"""A real SMTP server for the email channel's tests (aiosmtpd, in a thread of its own)."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "mailer"
PASSWORD = "s3cret-mail"
# Recipients the server refuses for good, as a mailbox that does not exist.
UNKNOWN_MAILBOX_PREFIX = "nobody"


@dataclass
class Inbox:
    """What the server accepted, as parsed messages with their envelope recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith(UNKNOWN_MAILBOX_PREFIX):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(USERNAME)
        # handled=False: aiosmtpd then answers a failed login itself (535), instead of nothing.
        return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    ca_file: str | None  # the CA to trust, when the server speaks STARTTLS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(tmp_path: Path, starttls: bool = False) -> Iterator[SmtpServer]:
    """A server on a free port; with ``starttls``, it requires STARTTLS (a throwaway CA's
    certificate) and a login."""
    inbox = Inbox()
    kwargs: dict[str, Any] = {}
    ca_file = None
    if starttls:
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        ca_path = tmp_path / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        ca_file = str(ca_path)
        kwargs = {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": inbox.authenticate,
            "auth_required": True,
        }
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, inbox, ca_file)
    finally:
        controller.stop()
