"""The files the pages load from the link server itself: the operator's logo and the theme.

Served from our own origin, so the CSP stays ``'self'``; the security headers and the static
``Cache-Control`` come from ``linkserver.security`` like every other response's.
"""

from __future__ import annotations

from aiohttp import web

from linkserver.appkeys import SETTINGS
from linkserver.branding import theme_css


async def logo(request: web.Request) -> web.StreamResponse:
    """``/static/logo``: the file of ``ACTION_LINKS_LOGO_FILE`` as read at start."""
    image = request.app[SETTINGS].logo
    if image is None:
        raise web.HTTPNotFound()
    return web.Response(body=image.data, content_type=image.content_type)


async def theme(request: web.Request) -> web.StreamResponse:
    """``/static/theme.css``: the accent colour and the button text colour chosen for it."""
    css = theme_css(request.app[SETTINGS].brand)
    return web.Response(text=css, content_type="text/css", charset="utf-8")
