"""The app's error middleware: every failure becomes a plain page or a JSON error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from linkserver import rendering
from linkserver.appkeys import TEMPLATES
from linkserver.responses import HTTP_ERRORS, INTERNAL, UNAVAILABLE, json_error
from linkserver.security import redact_path
from tokenstore.errors import StoreUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a plain page or a JSON error with a stable code, never a traceback."""
    try:
        return await handler(request)
    except StoreUnavailable:
        if _wants_json(request):
            return UNAVAILABLE.response()
        return rendering.unavailable_page(request.app[TEMPLATES])
    except web.HTTPException as exc:
        if exc.status in HTTP_ERRORS:
            code, heading, message = HTTP_ERRORS[exc.status]
            if _wants_json(request):
                return json_error(exc.status, code, message)
            return rendering.error_page(request.app[TEMPLATES], exc.status, heading, message)
        raise
    except ConnectionError:
        if _client_gone(request):
            raise  # the client went away (or was cut off for reading too slowly): nobody to answer
        return _internal_error(request)
    except Exception:
        return _internal_error(request)


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _internal_error(request: web.Request) -> web.Response:
    """Log the exception being handled, and answer with a plain 500."""
    log.exception(
        "unhandled error on %s %s",
        request.method,
        redact_path(request.path),
        extra={"action": "http_error"},
    )
    if _wants_json(request):
        return INTERNAL.response()
    return rendering.error_page(
        request.app[TEMPLATES], 500, "Something went wrong", "Please try the link again shortly."
    )
