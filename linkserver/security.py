"""Headers on every response, and log text that can neither be forged nor leak a token."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping

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
SERVER_NAME = "action-links"  # no framework and version to fingerprint
MAX_LOGGED_CHARS = 512
# A whole token (kid.secret.mac), wherever it appears and whatever the route.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}")
# What is left of a token cut up some other way: any long run of base64url characters.
_SECRET_LIKE = re.compile(r"[A-Za-z0-9_-]{20,}")
# Control characters (line breaks above all) and the rest of C0/C1, DEL and line separators.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# aiohttp's own loggers and asyncio's print request lines and peer data as they came.
SANITIZED_LOGGERS = (
    "aiohttp.server",
    "aiohttp.access",
    "aiohttp.web",
    "aiohttp.internal",
    "asyncio",
)


def secure_headers(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The security headers, under any a response already has."""
    return {**SECURITY_HEADERS, **(headers or {}), "Server": SERVER_NAME}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER_NAME
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "public, max-age=3600"


def loggable(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """Text from a request made safe for a log: one line, no token, bounded length."""
    text = _TOKEN.sub(lambda m: redact(m.group(0)), text)
    text = _SECRET_LIKE.sub("…", text)
    text = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    return text if len(text) <= limit else text[:limit] + "…"


def redact_path(path: str) -> str:
    return loggable(path)


class SanitizingFilter(logging.Filter):
    """Rewrites records of loggers we do not own (aiohttp, asyncio) into safe single lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = loggable(record.getMessage(), limit=2 * MAX_LOGGED_CHARS)
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = "".join(traceback.format_tb(exc.__traceback__))
            record.exc_text = f"{frames}{type(exc).__name__}: {loggable(str(exc))}"
        return True


_FILTER = SanitizingFilter()


def sanitize_foreign_logs() -> None:
    """Install the filter once on the loggers that print what clients sent."""
    for name in SANITIZED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's default access log prints the request line, and so the token; this does not."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms",
            loggable(request.method, limit=16),
            loggable(request.path),
            response.status,
            time * 1000,
            extra={"action": "http_access", "status": response.status},
        )
