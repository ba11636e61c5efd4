"""HTML handlers for people: ``GET /l/{token}`` shows, ``POST /l/{token}`` answers."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.multipart import BadContentDispositionHeader

from linkserver import rendering
from linkserver.appkeys import REDEEMER
from linkserver.clientaddr import client_info
from linkserver.forms import FormAnswer
from linkserver.languages import N_
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
    group = view.group if view else None
    language, zone = rendering.language_of(request, group), rendering.zone_of(request, group)
    if status is Status.OPEN and view is not None:
        return rendering.confirm_page(view, language, zone)
    return rendering.outcome_page(status, view, language, zone)


async def use_link(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    redeemer = request.app[REDEEMER]
    try:
        posted = await request.post()
    except UNREADABLE_FORM as exc:
        log.info(
            "unreadable form refused: %s",
            type(exc).__name__,
            extra={"action": "form_refused"},
        )
        return rendering.error_page(
            rendering.language_of(request),
            400,
            N_("The answer could not be read"),
            N_("Your browser sent a form we could not read. Please open the link again."),
        )
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    used = await redeemer.use(token, FormAnswer(form), client_info(request))
    if used.view is None:
        return rendering.invalid_page(rendering.language_of(request))
    if used.input_errors is not None:
        group = used.view.group
        language, zone = rendering.language_of(request, group), rendering.zone_of(request, group)
        return rendering.confirm_page(used.view, language, zone, form, used.input_errors)
    # Post/redirect/get: a reload shows the outcome instead of sending the form again. The
    # location is relative, so it holds behind a proxy that serves us under a path prefix.
    raise web.HTTPSeeOther(location=f"./{token}")
