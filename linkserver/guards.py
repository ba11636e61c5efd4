"""Request guards on link routes: one URL per link, and failed look-ups limited per client."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from linkserver import rendering
from linkserver.appkeys import LIMITER, SETTINGS, TEMPLATES
from linkserver.clientaddr import client_address
from linkserver.presentation import Status
from linkserver.responses import INVALID_TOKEN, RATE_LIMITED
from linkserver.throttle import LogThrottle

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CANONICAL_TOKEN = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
# A path that was meant as a link but is spelled some other way: //l/…, /L/…, /./l/…, /l/…/
_LINK_LIKE = re.compile(r"^/+(?:\./+)*(?:l|api/+v1/+links)/", re.IGNORECASE)
LIMIT_LOG_INTERVAL_S = 60.0
_limit_log = LogThrottle(LIMIT_LOG_INTERVAL_S)


def is_canonical(request: web.Request, token: str) -> bool:
    """The path as sent is the one the router matched: no %-escapes, dot segments or slashes."""
    raw_path = request.raw_path.partition("?")[0]
    return raw_path == request.path and _CANONICAL_TOKEN.fullmatch(token) is not None


def _misspelt_link(request: web.Request) -> bool:
    unmatched = getattr(request.match_info, "http_exception", None)
    return isinstance(unmatched, web.HTTPNotFound) and _LINK_LIKE.match(request.path) is not None


def _invalid(request: web.Request) -> web.Response:
    if request.path.startswith("/api/"):
        return INVALID_TOKEN.response()
    return rendering.outcome_page(request.app[TEMPLATES], Status.INVALID, None)


def _too_many(request: web.Request, retry_after_s: int) -> web.Response:
    if request.path.startswith("/api/"):
        response = RATE_LIMITED.response()
    else:
        response = rendering.error_page(
            request.app[TEMPLATES],
            429,
            "Too many attempts",
            "Too many links from your address were not valid. Please wait a minute and try again.",
        )
    response.headers["Retry-After"] = str(retry_after_s)
    return response


@web.middleware
async def guard_links(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse non-canonical spellings of a token, and clients that keep guessing."""
    token = request.match_info.get("token")
    if token is None and not _misspelt_link(request):
        return await handler(request)
    limiter = request.app[LIMITER]
    client = client_address(request, request.app[SETTINGS].trusted_proxies)
    verdict = limiter.check(client, time.monotonic())
    if not verdict.allowed:
        if (suppressed := _limit_log.due("rate_limited", time.monotonic())) is not None:
            log.warning(
                "failed look-ups limited for a client (%d more since the last report)",
                suppressed,
                extra={"action": "rate_limited"},
            )
        return _too_many(request, verdict.retry_after_s)
    if token is not None and is_canonical(request, token):
        response = await handler(request)
    else:
        response = _invalid(request)  # the same answer as for an unknown token
    if response.status == 404:
        limiter.failed(client, time.monotonic())
    return response
