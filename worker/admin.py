"""The worker's admin listener: ``/healthz`` and Prometheus ``/metrics``, never public."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.errors import AdminListenError
from worker.metrics import REGISTRY

log = logging.getLogger(__name__)


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _metrics(_: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(REGISTRY))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def admin_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


@asynccontextmanager
async def admin_listener(host: str, port: int) -> AsyncIterator[str]:
    """Serve the admin app on ``host:port`` (0 picks a free port); yields the bound URL."""
    runner = web.AppRunner(admin_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise AdminListenError(f"{host}:{port}: {exc.strerror or exc}") from exc
        bound_host, bound_port = runner.addresses[0][:2]
        url = f"http://{bound_host}:{bound_port}"
        log.info(
            "worker admin listener on %s (/healthz, /metrics)",
            url,
            extra={"action": "admin_listening", "address": f"{bound_host}:{bound_port}"},
        )
        yield url
    finally:
        await runner.cleanup()
