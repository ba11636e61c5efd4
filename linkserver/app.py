"""Application factory and the ``action-links serve`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from linkserver import preflight
from linkserver.appkeys import DB, LANGUAGES, LIMITER, PROCESS, REDEEMER, SETTINGS
from linkserver.camunda import CamundaClient
from linkserver.delivery import Deliverer, DeliveryLoop
from linkserver.guards import guard_links
from linkserver.middlewares import error_middleware
from linkserver.processes import ProcessSlot, pool_size_for
from linkserver.ratelimit import FailureLimiter
from linkserver.redemption import Redeemer
from linkserver.retry import DeliveryPolicy
from linkserver.routes import setup_admin_routes, setup_routes
from linkserver.security import add_security_headers
from linkserver.server import (
    connection_cap,
    handle_loop_exception,
    make_runner,
    raise_open_file_limit,
    start_site,
)
from linkserver.settings import LinkServerSettings
from tokenstore.db import POOL_SIZE, Database

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024


def create_app(settings: LinkServerSettings, slot: ProcessSlot | None = None) -> web.Application:
    # The guard is outermost: it sees the final status of a look-up to count a failure.
    app = web.Application(
        middlewares=[guard_links, error_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[LANGUAGES] = settings.languages()
    app[PROCESS] = slot or ProcessSlot()
    app[LIMITER] = FailureLimiter(settings.failed_lookup_burst, settings.failed_lookups_per_minute)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(_resources)
    setup_routes(app)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    shared = settings.shared
    # The processes of one server share out the connections one process would open.
    pool_size = pool_size_for(app[PROCESS], POOL_SIZE)
    db = Database.from_url(shared.database_url, pool_size=pool_size, schema=shared.db_schema)
    camunda = CamundaClient(
        shared.camunda_url, shared.camunda_headers(), settings.correlation_timeout
    )
    policy = DeliveryPolicy.from_timeouts(settings.correlation_timeout, settings.not_yet_window)
    # A click waits for a delivery slot no longer than one correlation may take.
    deliverer = Deliverer(
        db, camunda, policy, policy.attempt_lease, slot_wait=settings.correlation_timeout
    )
    app[DB] = db
    app[REDEEMER] = Redeemer(db, shared.keyring, deliverer)
    loop = DeliveryLoop(deliverer)
    task = asyncio.create_task(loop.run(), name="delivery-loop")
    yield
    loop.stop()
    # The loop finishes the delivery it is in; it gets the grace period, not forever.
    done, _ = await asyncio.wait({task}, timeout=shared.shutdown_grace.total_seconds())
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await camunda.close()
    await db.dispose()


def create_admin_app(public: web.Application) -> web.Application:
    """Metrics, health and readiness for operators, on a port of their own."""
    app = web.Application()
    app[SETTINGS] = public[SETTINGS]
    app[LANGUAGES] = public[LANGUAGES]
    app[DB] = public[DB]
    app.on_response_prepare.append(add_security_headers)
    setup_admin_routes(app)
    return app


async def run_server(settings: LinkServerSettings, slot: ProcessSlot | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then drain in-flight requests and close cleanly.

    As one of several processes (``slot``), it shares the port (``SO_REUSEPORT``); only the
    first serves the admin listener, whose metrics are then that process's own.
    """
    slot = slot or ProcessSlot()
    if slot.first:
        await preflight.log_checks(settings.shared)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(handle_loop_exception)
    open_files = raise_open_file_limit()
    app = create_app(settings, slot)
    grace_s = settings.shared.shutdown_grace.total_seconds()
    runner = make_runner(app, settings, shutdown_timeout=grace_s)
    await runner.setup()
    host, port = await start_site(runner, *settings.listen, reuse_port=slot.count > 1)
    admin: web.AppRunner | None = None
    admin_host, admin_port = "", 0
    if slot.first:
        admin = web.AppRunner(create_admin_app(app), handle_signals=False, access_log=None)
        await admin.setup()
        admin_host, admin_port = await start_site(admin, *settings.admin_listen)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "link server listening on http://%s:%s, admin (metrics) on http://%s:%s"
        if admin
        else "link server listening on http://%s:%s",
        host,
        port,
        *((admin_host, admin_port) if admin else ()),
        extra={
            "action": "serve_started",
            "admin_port": admin_port,
            "max_connections": connection_cap(settings, open_files),
            "open_file_limit": open_files,
            "event_loop": type(loop).__module__.split(".")[0],  # uvloop or asyncio
        },
    )
    await stop.wait()
    log.info("stopping: draining requests", extra={"action": "serve_stopping"})
    with contextlib.suppress(asyncio.CancelledError):
        if admin is not None:
            await admin.cleanup()
        await runner.cleanup()
    log.info("stopped", extra={"action": "serve_stopped"})
    return 0
