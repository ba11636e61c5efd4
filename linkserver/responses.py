"""Each outcome's HTTP answer in one place: status code, and for the API its stable error code.

Handlers, guards and middlewares choose an outcome; this module says how it is told over HTTP.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from linkserver.languages import N_
from linkserver.presentation import Status


@dataclass(frozen=True)
class ApiError:
    """A JSON API error: HTTP status, the stable code bots switch on, and a message."""

    status: int
    code: str
    message: str

    def response(self, **extra: Any) -> web.Response:
        if extra:
            return json_error(self.status, self.code, self.message, **extra)
        # The common case (a forged token above all) sends bytes serialized once.
        return web.Response(
            body=self._body, status=self.status, content_type="application/json", charset="utf-8"
        )

    @functools.cached_property
    def _body(self) -> bytes:
        return json.dumps({"error": {"code": self.code, "message": self.message}}).encode()


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


INVALID_TOKEN = ApiError(404, "invalid_token", "this link is not valid")
INVALID_INPUT = ApiError(422, "invalid_input", "the input does not fit the form")
RATE_LIMITED = ApiError(
    429, "rate_limited", "too many invalid links from this address; try again later"
)
UNAVAILABLE = ApiError(503, "unavailable", "the link store is unreachable; try again shortly")
INTERNAL = ApiError(500, "internal", "something went wrong; try again shortly")

# A use of a link that did not lead to an accepted answer, as HTTP status and error code.
API_REFUSALS = {
    Status.ANSWERED_ELSEWHERE: ApiError(
        409, "answered_elsewhere", "another link of this request was used"
    ),
    Status.REVOKED: ApiError(410, "revoked", "the link was withdrawn"),
    Status.EXPIRED: ApiError(410, "expired", "the link has expired"),
}

# HTTP status of a page that only reads: an answered link is not an error.
PAGE_STATUS = {
    Status.OPEN: 200,
    Status.RECEIVED: 200,
    Status.RECORDED: 200,
    Status.UNDELIVERABLE: 200,
    Status.REFUSED: 200,
    Status.ANSWERED_ELSEWHERE: 200,
    Status.REVOKED: 410,
    Status.EXPIRED: 410,
    Status.INVALID: 404,
}

# aiohttp's own errors (no route, wrong method, body too large): API code, page heading, text.
# The texts are msgids: English in the API, the reader's language on a page.
HTTP_ERRORS = {
    404: ("not_found", N_("Not found"), N_("There is nothing at this address.")),
    405: (
        "method_not_allowed",
        N_("Not allowed"),
        N_("This address does not take that kind of request."),
    ),
    413: ("too_large", N_("Too much data"), N_("The answer sent was too large.")),
}


def answered_status(status: Status) -> int:
    """An accepted or repeated answer over the API: 202 while delivery is under way."""
    return 202 if status is Status.RECEIVED else 200
