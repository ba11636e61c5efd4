"""A webhook receiver for the tests: an aiohttp server that checks each request's signature
exactly as the README's example tells a receiver to."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SECRET = "receiver-secret-0123456789"


# --- the README's receiver example, verbatim in substance -----------------------------------
def verify(secret: bytes, headers: Mapping[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    timestamp = headers.get("X-Action-Links-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_s:
        return False  # missing, or too old: a replay
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(
        "sha256=" + mac.hexdigest(), headers.get("X-Action-Links-Signature", "")
    )


@dataclass
class Receiver:
    url: str
    documents: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    forged: int = 0
    answer_status: int = 202


@asynccontextmanager
async def webhook_receiver(secret: str = SECRET) -> AsyncIterator[Receiver]:
    receiver = Receiver(url="")

    async def take(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret.encode(), request.headers, body):
            receiver.forged += 1
            return web.Response(status=401, text="bad signature")
        if receiver.answer_status < 300:
            receiver.documents.append(json.loads(body))
            receiver.deliveries.append(request.headers["X-Action-Links-Delivery"])
        return web.Response(status=receiver.answer_status, text="noted")

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()
