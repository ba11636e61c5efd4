"""Application factory and the ``action-links serve`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from linkserver import api, pages
from linkserver.appkeys import DB, REDEEMER, SETTINGS
from linkserver.camunda import CamundaClient
from linkserver.delivery import Deliverer, DeliveryLoop
from linkserver.redemption import Redeemer
from linkserver.retry import DeliveryPolicy
from linkserver.routes import setup_routes
from linkserver.security import RedactingAccessLogger, add_security_headers, redact_path
from tokenstore.db import create_engine
from tokenstore.errors import StoreUnavailable
from tokenstore.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
LEASE_MARGIN_S = 5
# An unanswered correlation is looked at again only after this many correlation timeouts.
SETTLE_TIMEOUTS = 3
ATTEMPT_CALLS = 4

# aiohttp's default access log prints the request line, token included.
RUNNER_OPTIONS: dict[str, Any] = {
    "access_log_class": RedactingAccessLogger,
    "handle_signals": False,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


HTTP_ERRORS = {
    404: ("not_found", "Not found", "There is nothing at this address."),
    405: ("method_not_allowed", "Not allowed", "This address does not take that kind of request."),
    413: ("too_large", "Too much data", "The answer sent was too large."),
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a plain page or a JSON error with a stable code, never a traceback."""
    try:
        return await handler(request)
    except StoreUnavailable:
        if _wants_json(request):
            return api.error(503, "unavailable", "the link store is unreachable; try again shortly")
        return pages.unavailable_page()
    except web.HTTPException as exc:
        if exc.status in HTTP_ERRORS:
            code, heading, message = HTTP_ERRORS[exc.status]
            if _wants_json(request):
                return api.error(exc.status, code, message)
            return pages.error_page(exc.status, heading, message)
        raise
    except Exception:
        log.exception(
            "unhandled error on %s %s",
            request.method,
            redact_path(request.path),
            extra={"action": "http_error"},
        )
        if _wants_json(request):
            return api.error(500, "internal", "something went wrong; try again shortly")
        return pages.error_page(500, "Something went wrong", "Please try the link again shortly.")


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(_resources)
    setup_routes(app)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url, schema=settings.db_schema)
    camunda = CamundaClient(
        settings.camunda_url, settings.camunda_headers(), settings.correlation_timeout
    )
    policy = DeliveryPolicy(
        not_yet_window=settings.not_yet_window,
        settle_after_timeout=settings.correlation_timeout * SETTLE_TIMEOUTS,
    )
    # An attempt makes up to four calls (history, message, instance, history again), each
    # bounded by the timeout; a request it leaves unanswered may keep the engine busy for the
    # settle time after that.
    attempt_lease = (
        settings.correlation_timeout * ATTEMPT_CALLS
        + policy.settle_after_timeout
        + dt.timedelta(seconds=LEASE_MARGIN_S)
    )
    deliverer = Deliverer(engine, camunda, policy, attempt_lease)
    # The retry loop keeps off a fresh answer until its first attempt must have finished.
    # Nothing is sent before the first claim, so the loop need wait only briefly for it.
    lease = settings.correlation_timeout + dt.timedelta(seconds=LEASE_MARGIN_S)
    app[DB] = engine
    app[REDEEMER] = Redeemer(engine, settings.keyring, deliverer, lease)
    loop = DeliveryLoop(deliverer)
    task = asyncio.create_task(loop.run(), name="delivery-loop")
    yield
    loop.stop()
    # The loop finishes the delivery it is in; it gets the grace period, not forever.
    done, _ = await asyncio.wait({task}, timeout=settings.shutdown_grace.total_seconds())
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await camunda.close()
    await engine.dispose()


async def run_server(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT, then drain in-flight requests and close cleanly."""
    app = create_app(settings)
    runner = web.AppRunner(
        app, shutdown_timeout=settings.shutdown_grace.total_seconds(), **RUNNER_OPTIONS
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.listen_host, settings.listen_port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "link server listening on http://%s:%s",
        settings.listen_host,
        settings.listen_port,
        extra={"action": "serve_started"},
    )
    await stop.wait()
    log.info("stopping: draining requests", extra={"action": "serve_stopping"})
    with contextlib.suppress(asyncio.CancelledError):
        await runner.cleanup()
    log.info("stopped", extra={"action": "serve_stopped"})
    return 0
