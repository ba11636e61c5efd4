"""The JSON API for bots and gateways, with stable error codes and an OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from linkserver.appkeys import REDEEMER
from linkserver.clientaddr import client_info
from linkserver.openapi import OPENAPI
from linkserver.presentation import Status, describe
from linkserver.responses import (
    API_REFUSALS,
    INVALID_INPUT,
    INVALID_TOKEN,
    answered_status,
    json_error,
)
from tokenstore.problems import Problem
from tokenstore.types import utcnow

# {"input": {"field": value}} is three levels; anything far deeper is not an answer.
MAX_BODY_DEPTH = 16


async def get_link(request: web.Request) -> web.StreamResponse:
    view = await request.app[REDEEMER].find(request.match_info["token"])
    if view is None:
        return INVALID_TOKEN.response()
    return web.json_response(describe(view, utcnow()))


class _BadBody(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def _answer_of(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    if not raw.strip():
        return None
    text = _decoded(raw, request.charset)
    try:
        body = json.loads(text)
    except RecursionError as exc:
        # The body is capped at 16 KiB, but that is enough brackets to exhaust the stack.
        raise _BadBody(400, "invalid_json", "the body nests too deeply") from exc
    except ValueError as exc:  # also a number of more digits than Python will read
        raise _BadBody(400, "invalid_json", _first_line(str(exc))) from exc
    if _nesting(body) > MAX_BODY_DEPTH:
        # Parsed, but deeper than an answer can be; later code need not meet it at all.
        raise _BadBody(400, "invalid_json", "the body nests too deeply")
    if not isinstance(body, dict) or set(body) - {"input"}:
        raise _BadBody(400, "invalid_body", 'send {"input": {...}} or nothing')
    answer = body.get("input")
    if answer is not None and not isinstance(answer, dict):
        raise _BadBody(422, "invalid_input", "input must be an object")
    return answer


def _nesting(value: object) -> int:
    """How deeply a JSON value nests, found without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_BODY_DEPTH:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _decoded(raw: bytes, charset: str | None) -> str:
    encoding = charset or "utf-8-sig"  # JSON is UTF-8; a byte order mark is tolerated
    try:
        return raw.decode(encoding)
    except LookupError as exc:  # no such codec, or one that is no text encoding (zlib)
        raise _BadBody(
            400, "unsupported_charset", f"charset {encoding[:40]!r} is unknown; send UTF-8"
        ) from exc
    except ValueError as exc:  # UnicodeDecodeError and friends
        raise _BadBody(400, "invalid_json", f"the body is not valid {encoding[:40]}") from exc


def _first_line(message: str) -> str:
    return message.splitlines()[0][:200] if message else "not JSON"


async def redeem_link(request: web.Request) -> web.StreamResponse:
    try:
        answer = await _answer_of(request)
    except _BadBody as bad:
        return json_error(bad.status, bad.code, bad.message)
    used = await request.app[REDEEMER].use(
        request.match_info["token"], answer, client_info(request)
    )
    if used.view is None:
        return INVALID_TOKEN.response()
    if used.input_errors is not None:
        errors = used.input_errors
        return INVALID_INPUT.response(fields=dict(errors), problems=described(errors))
    body = describe(used.view, utcnow())
    status = Status(body["status"])
    if status in API_REFUSALS:
        return API_REFUSALS[status].response(link=body)
    body["outcome"] = "accepted" if used.accepted else "already_answered"
    return web.json_response(body, status=answered_status(status))


def described(errors: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each field's problem with its stable code, English text and parameters."""
    return {
        name: {"code": found.code, "message": str(found), "params": dict(found.params)}
        if isinstance(found, Problem)
        else {"code": "invalid", "message": str(found)}
        for name, found in errors.items()
    }


async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(OPENAPI)
