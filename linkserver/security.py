"""Headers on every response, errors without tracebacks, and access logs without tokens."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from tokenstore.tokens import redact

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A link is a capability: it must never leak to another site through the Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}
_TOKEN_IN_PATH = re.compile(r"^(/l/|/api/v1/links/)([^/?#]+)")


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "action-links"  # no framework and version to fingerprint
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "public, max-age=3600"


def redact_path(path: str) -> str:
    return _TOKEN_IN_PATH.sub(lambda m: m.group(1) + redact(m.group(2)), path)


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's default access log prints the request line, and so the token; this does not."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms",
            request.method,
            redact_path(request.path),
            response.status,
            time * 1000,
            extra={"action": "http_access", "status": response.status},
        )
