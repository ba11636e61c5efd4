"""A local SMTP sink for ``make up``: every mail the worker sends lands as a ``.eml`` file.

aiosmtpd in a thread of its own, on loopback, without TLS or login: development only.
"""

from __future__ import annotations

import email
import email.policy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.ports import free_port


class _Sink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        path = self.folder / f"{next(self._numbers):04d}.eml"
        path.write_bytes(content)
        parsed: Any = email.message_from_bytes(content, policy=email.policy.default)
        print(f"mail to {parsed['To']}: {parsed['Subject']!r} saved as {path}", flush=True)
        return "250 Message accepted"


@contextmanager
def mail_sink(folder: Path) -> Iterator[tuple[str, int]]:
    """Accept every mail on a free loopback port; yields (host, port)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    controller = Controller(_Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port
    finally:
        controller.stop()
