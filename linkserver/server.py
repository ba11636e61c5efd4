"""The listening side: connection caps, a read deadline, safe low-level errors, file limits.

aiohttp bounds neither how long a client may take to send its request nor how many
connections one address may hold; left alone, a thousand silent sockets starve real clicks.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from linkserver.clientaddr import is_trusted
from linkserver.security import (
    RedactingAccessLogger,
    loggable,
    sanitize_foreign_logs,
    secure_headers,
)
from linkserver.settings import LinkServerSettings
from linkserver.throttle import LogThrottle
from tokenstore.settings import Network

log = logging.getLogger(__name__)

# File descriptors kept for the database pool, the engine client, logs and the admin port.
RESERVED_FDS = 64
RESOURCE_LOG_INTERVAL_S = 60.0
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n"
    + b"".join(f"{k}: {v}\r\n".encode() for k, v in secure_headers().items())
    + b"\r\n"
)
_throttle = LogThrottle(RESOURCE_LOG_INTERVAL_S)


def _report(key: str, message: str, *args: object) -> None:
    """A warning once per interval, not once per event (an attack makes millions of events)."""
    if (suppressed := _throttle.due(key, time.monotonic())) is not None:
        log.warning(
            message + " (%d more since the last report)",
            *args,
            suppressed,
            extra={"action": key},
        )


@dataclass
class ConnectionGuard:
    """Counts open connections, in total and per peer address, and turns away those over a cap.

    A trusted proxy carries many clients on its connections, so only the total applies to it.
    """

    max_total: int
    max_per_client: int
    trusted: tuple[Network, ...] = ()

    def __post_init__(self) -> None:
        self.open = 0
        self.per_peer: Counter[str] = Counter()

    def admit(self, peer: str) -> bool:
        if self.open >= self.max_total:
            _report("connection_cap", "connection cap of %d reached", self.max_total)
            return False
        if self.per_peer[peer] >= self.max_per_client and not is_trusted(peer, self.trusted):
            _report("client_connection_cap", "per-client cap of %d reached", self.max_per_client)
            return False
        self.open += 1
        self.per_peer[peer] += 1
        return True

    def release(self, peer: str) -> None:
        self.open -= 1
        self.per_peer[peer] -= 1
        if self.per_peer[peer] <= 0:
            del self.per_peer[peer]


class GuardedRequestHandler(RequestHandler):
    """aiohttp's protocol with caps, a deadline to read each request, and quiet 400s."""

    def __init__(
        self, manager: web.Server, *, guard: ConnectionGuard, read_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._read_timeout_s = read_timeout_s
        self._peer: str | None = None
        self._read_since: float | None = None
        self._read_handle: asyncio.TimerHandle | None = None
        self._body: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else ""
        if not self._guard.admit(peer):
            # Not an isinstance check: uvloop's transports are no asyncio.Transport subclass
            # (under uvloop the assertion that was here failed, and no 503 was ever sent).
            cast(asyncio.WriteTransport, transport).write(_REFUSAL)
            transport.close()
            return
        self._peer = peer
        super().connection_made(transport)
        self._start_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._peer is not None:
            self._guard.release(self._peer)
            self._peer = None
        if self._read_handle is not None:
            self._read_handle.cancel()
            self._read_handle = None
        super().connection_lost(exc)

    def _start_reading(self) -> None:
        self._read_since = self._loop.time()
        self._body = None
        if self._read_handle is None:
            self._read_handle = self._loop.call_at(
                self._read_since + self._read_timeout_s, self._check_read
            )

    def data_received(self, data: bytes) -> None:
        if self._body is not None and self._body.is_eof():
            self._read_since, self._body = None, None
        if self._read_since is None and self._waiter is not None:
            self._start_reading()  # the first bytes of the next request on this connection
        seen = self._request_count
        super().data_received(data)
        if self._request_count != seen and self._messages:
            _, payload = self._messages[-1]
            if payload.is_eof():
                self._read_since = None
            else:
                self._body = payload

    def _check_read(self) -> None:
        self._read_handle = None
        if self._read_since is None or self.transport is None:
            return
        if self._body is not None and self._body.is_eof():
            self._read_since, self._body = None, None
            return
        due = self._read_since + self._read_timeout_s
        if self._loop.time() < due:
            self._read_handle = self._loop.call_at(due, self._check_read)
            return
        _report(
            "read_timeout",
            "closed a connection that did not send its request in %ss",
            self._read_timeout_s,
        )
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's own error answer, with our headers, no request echo and no traceback."""
        peer = loggable(request.remote or "")
        if isinstance(exc, ConnectionError) and (
            self.transport is None or self.transport.is_closing()
        ):
            log.debug("client %s went away", peer, extra={"action": "http_disconnected"})
        elif status >= 500:
            # The frames are our code; the exception's message may quote the request, so not it.
            frames = "".join(traceback.format_tb(exc.__traceback__)) if exc else ""
            log.error(
                "unhandled error from %s: %s\n%s",
                peer,
                type(exc).__name__,
                frames,
                extra={"action": "http_error"},
            )
        elif not (self._request_count == 1 and isinstance(exc, BadHttpMethod)):
            log.warning(
                "malformed request from %s: %s",
                peer,
                type(exc).__name__ if exc else status,
                extra={"action": "http_malformed", "status": status},
            )
        if request.writer.output_size > 0:
            raise ConnectionError("a response was partly sent; it cannot be replaced")
        phrase = HTTPStatus(status).phrase
        response = web.Response(
            status=status, text=f"{status} {phrase}\n", headers=secure_headers()
        )
        response.force_close()
        return response


class GuardedServer(web.Server):
    def __init__(
        self, handler: Any, *, guard: ConnectionGuard, read_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self.guard = guard
        self._read_timeout_s = read_timeout_s

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(
            self,
            loop=self._loop,
            guard=self.guard,
            read_timeout_s=self._read_timeout_s,
            **self._kwargs,
        )


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections go through a ConnectionGuard and a read deadline."""

    def __init__(
        self, app: web.Application, *, guard: ConnectionGuard, read_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(
            app, access_log_class=RedactingAccessLogger, handle_signals=False, **kwargs
        )
        self.guard = guard
        self._read_timeout_s = read_timeout_s

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            guard=self.guard,
            read_timeout_s=self._read_timeout_s,
            **plain._kwargs,
        )


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard limit where allowed; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning(
                "could not raise the open file limit from %d", soft, extra={"action": "rlimit"}
            )
    return soft


def connection_cap(settings: LinkServerSettings, open_file_limit: int) -> int:
    """The configured cap, lowered so accepting can never run out of file descriptors."""
    return max(1, min(settings.max_connections, open_file_limit - RESERVED_FDS))


def handle_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Resource exhaustion on accept is one warning per interval, not a traceback per event."""
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
        _report(
            "accept_exhausted",
            "out of resources accepting connections: %s",
            errno.errorcode.get(exc.errno or 0, "?"),
        )
        return
    loop.default_exception_handler(context)


def make_runner(app: web.Application, settings: LinkServerSettings, **kwargs: Any) -> GuardedRunner:
    """A runner for the public app with the edge settings applied."""
    sanitize_foreign_logs()
    guard = ConnectionGuard(
        max_total=connection_cap(settings, resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
        max_per_client=settings.max_connections_per_client,
        trusted=settings.trusted_proxies,
    )
    return GuardedRunner(
        app,
        guard=guard,
        read_timeout_s=settings.read_timeout.total_seconds(),
        keepalive_timeout=settings.keepalive_timeout.total_seconds(),
        **kwargs,
    )


async def start_site(
    runner: web.AppRunner, host: str, port: int, reuse_port: bool = False
) -> tuple[str, int]:
    """Listen, and return the address actually bound (port 0 picks one); ``reuse_port``
    shares the port with the server's other processes (``SO_REUSEPORT``)."""
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    # asyncio's Server or uvloop's: both list their listening sockets.
    sockets = getattr(site._server, "sockets", None)
    assert sockets, "a started site listens"
    bound = sockets[0].getsockname()
    return str(bound[0]), int(bound[1])
