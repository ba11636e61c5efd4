"""Liveness, readiness and metrics for operators."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from linkserver import metrics
from linkserver.appkeys import DB
from tokenstore.errors import StoreUnavailable


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[DB].ping()
    except StoreUnavailable:
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics_page(request: web.Request) -> web.StreamResponse:
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
