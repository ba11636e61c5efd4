"""A small fault-injecting HTTP proxy to put between our code and the real engine.

Rules match by method and path and inject one fault for a number of requests: refuse the
connection, delay, answer 503 (or any status and body), or forward the request and then drop
the response (the engine acted, the caller never hears of it). Everything else passes through
unchanged.
"""

from __future__ import annotations

import asyncio
import enum
import re
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from devstack.ports import free_port

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Fault(enum.Enum):
    RESET = "reset"  # close the connection at once, as a refused or crashed engine would
    DELAY = "delay"  # wait, then forward
    UNAVAILABLE = "unavailable"  # answer 503 without forwarding
    DROP_RESPONSE = "drop_response"  # forward, then close without answering
    HOLD = "hold"  # wait until released, then forward
    HOLD_THEN_RESET = "hold_then_reset"  # wait until released, then close: it never arrives
    GATEWAY_TIMEOUT = "gateway_timeout"  # answer 504 now, forward after delay_s anyway
    RESPOND = "respond"  # answer status and body (JSON) without forwarding: the engine's words


@dataclass
class Rule:
    fault: Fault
    method: str = "*"
    path: str = ".*"
    times: int | None = None  # None: until cleared
    delay_s: float = 0.0
    status: int = 0  # for RESPOND
    body: str = ""  # for RESPOND, sent as application/json
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hits: int = 0

    def matches(self, request: web.Request) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        method_ok = self.method in ("*", request.method)
        return method_ok and re.search(self.path, request.path) is not None


@dataclass
class Seen:
    method: str
    path: str
    fault: Fault | None
    authorization: str | None = None
    upstream_status: int | None = None


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        # upstream is the engine REST base, e.g. http://127.0.0.1:8080/engine-rest
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        prefix = "/" + self.upstream.split("/", 3)[3] if self.upstream.count("/") >= 3 else ""
        return f"http://127.0.0.1:{self.port}{prefix}"

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        for rule in self.rules:
            rule.release.set()
        self.rules.clear()

    def count(self, method: str, path_pattern: str, fault: Fault | str | None = "any") -> int:
        return sum(
            1
            for s in self.seen
            if s.method == method
            and re.search(path_pattern, s.path)
            and (fault == "any" or s.fault == fault)
        )

    async def start(self, port: int = 0) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        self.port = port or free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()

    async def stop(self) -> None:
        self.clear()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()

    def _match(self, request: web.Request) -> Rule | None:
        for rule in self.rules:
            if rule.matches(request):
                rule.hits += 1
                return rule
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rule = self._match(request)
        seen = Seen(
            request.method,
            request.path,
            rule.fault if rule else None,
            request.headers.get("Authorization"),
        )
        self.seen.append(seen)
        body = await request.read()
        if rule and rule.fault is Fault.RESET:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=499)
        if rule and rule.fault is Fault.RESPOND:
            return web.Response(status=rule.status, text=rule.body, content_type="application/json")
        if rule and rule.fault is Fault.UNAVAILABLE:
            return web.Response(status=503, text="injected 503")
        if rule and rule.fault is Fault.GATEWAY_TIMEOUT:
            late = asyncio.create_task(self._forward_later(request, body, rule.delay_s, seen))
            self._background.add(late)
            late.add_done_callback(self._background.discard)
            return web.Response(status=504, text="injected gateway timeout")
        if rule and rule.fault is Fault.DELAY:
            await asyncio.sleep(rule.delay_s)
        if rule and rule.fault in (Fault.HOLD, Fault.HOLD_THEN_RESET):
            await rule.release.wait()
        if rule and rule.fault is Fault.HOLD_THEN_RESET:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=499)
        status, headers, payload = await self._forward(request, body)
        seen.upstream_status = status
        if rule and rule.fault is Fault.DROP_RESPONSE:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=499)
        return web.Response(status=status, headers=headers, body=payload)

    async def _forward_later(
        self, request: web.Request, body: bytes, delay_s: float, seen: Seen
    ) -> None:
        await asyncio.sleep(delay_s)
        seen.upstream_status = (await self._forward(request, body))[0]

    async def _forward(
        self, request: web.Request, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        base = self.upstream.split("/", 3)
        origin = "/".join(base[:3])
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(
            request.method, origin + request.path_qs, headers=headers, data=body
        ) as response:
            payload = await response.read()
            out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
            return response.status, out, payload
