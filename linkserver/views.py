"""HTML handlers for people: ``GET /l/{token}`` shows, ``POST /l/{token}`` answers."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.multipart import BadContentDispositionHeader

from linkserver import rendering
from linkserver.appkeys import REDEEMER, TEMPLATES
from linkserver.clientaddr import client_info
from linkserver.forms import FormAnswer
from linkserver.presentation import Status, status_of
from tokenstore.types import utcnow

log = logging.getLogger(__name__)
# What aiohttp raises for a form it cannot read: a malformed multipart body, an unknown or
# non-text charset, bytes that are not in the charset claimed. A garbled Content-Disposition
# is only a warning (then a nameless field, a ValueError) unless warnings are errors.
UNREADABLE_FORM = (ValueError, LookupError, AssertionError, BadContentDispositionHeader)


async def show_link(request: web.Request) -> web.StreamResponse:
    """Safe for mail scanners and chat previews: reads, never writes."""
    view = await request.app[REDEEMER].find(request.match_info["token"])
    status = status_of(view, utcnow())
    templates = request.app[TEMPLATES]
    if status is Status.OPEN and view is not None:
        return rendering.confirm_page(templates, view)
    return rendering.outcome_page(templates, status, view)


async def use_link(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    redeemer, templates = request.app[REDEEMER], request.app[TEMPLATES]
    try:
        posted = await request.post()
    except UNREADABLE_FORM as exc:
        log.info(
            "unreadable form refused: %s",
            type(exc).__name__,
            extra={"action": "form_refused"},
        )
        return rendering.error_page(
            templates,
            400,
            "The answer could not be read",
            "Your browser sent a form we could not read. Please open the link again.",
        )
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    used = await redeemer.use(token, FormAnswer(form), client_info(request))
    if used.view is None:
        return rendering.outcome_page(templates, Status.INVALID, None)
    if used.input_errors is not None:
        return rendering.confirm_page(templates, used.view, form, used.input_errors)
    # Post/redirect/get: a reload shows the outcome instead of sending the form again. The
    # location is relative, so it holds behind a proxy that serves us under a path prefix.
    raise web.HTTPSeeOther(location=f"./{token}")
