"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "invalid_token",
                        "invalid_json",
                        "invalid_body",
                        "unsupported_charset",
                        "invalid_input",
                        "answered_elsewhere",
                        "revoked",
                        "expired",
                        "too_large",
                        "unavailable",
                        "not_found",
                        "method_not_allowed",
                        "internal",
                        "rate_limited",
                    ],
                },
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                # The same problems with a stable code each (the wording may improve, a code
                # never changes) and the values in the message, for a bot's own wording.
                "problems": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "params": {"type": "object"},
                        },
                    },
                },
                "link": {"$ref": "#/components/schemas/Link"},
            },
        }
    },
}
_LINK = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {
            "type": "string",
            "enum": [
                "open",
                "received",
                "recorded",
                "undeliverable",
                "refused",
                "answered_elsewhere",
                "revoked",
                "expired",
            ],
        },
        "action": {"type": "string"},
        "label": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "expiresAt": {"type": "string", "format": "date-time"},
        "details": {
            "type": "array",
            "description": "What the request is about, in the order the process gave it",
            "maxItems": 30,
            "items": {
                "type": "object",
                "required": ["label", "value"],
                "properties": {
                    "label": {"type": "string"},
                    "value": {"type": ["string", "number", "boolean", "null"]},
                },
            },
        },
        "locale": {
            "type": ["string", "null"],
            "description": "The language the process pinned for this request (BCP 47, de-CH)",
        },
        "timeZone": {
            "type": ["string", "null"],
            "description": "The time zone the process pinned for this request (IANA name)",
        },
        "input": {"type": ["object", "null"], "description": "JSON Schema of the input it takes"},
        "usesLeft": {"type": "integer", "minimum": 0},
        "answer": {
            "type": ["object", "null"],
            "properties": {
                "action": {"type": "string"},
                "label": {"type": "string"},
                "answeredAt": {"type": "string", "format": "date-time"},
                "delivery": {"type": "string", "enum": ["pending", "delivered", "undeliverable"]},
                "input": {
                    "type": "object",
                    "description": "The values typed into the answering link's form, by name",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
        },
        "outcome": {"type": "string", "enum": ["accepted", "already_answered"]},
    },
}


def _err(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _link(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Link"}}},
    }


def _limited() -> dict[str, Any]:
    response = _err("rate_limited: too many invalid links from this address")
    response["headers"] = {
        "Retry-After": {
            "description": "Seconds until this address may look links up again",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return response


_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 64},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Camunda Action Links",
        "version": "1",
        "description": "Read and use one-time action links. The token is the whole credential.",
    },
    "paths": {
        "/api/v1/links/{token}": {
            "get": {
                "operationId": "getLink",
                "summary": "What the link does and where it stands; changes nothing",
                "parameters": [_TOKEN],
                "responses": {
                    "200": _link("The link"),
                    "404": _err("invalid_token"),
                    "429": _limited(),
                    "503": _err("unavailable"),
                },
            }
        },
        "/api/v1/links/{token}/redeem": {
            "post": {
                "operationId": "redeemLink",
                "summary": "Answer with this link (once); a repeat returns the recorded answer",
                "parameters": [_TOKEN],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"input": {"type": "object"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _link("Answer delivered, or the answer recorded earlier"),
                    "202": _link("Answer recorded; delivery to the process is under way"),
                    "400": _err(
                        "invalid_json (also nested too deeply), invalid_body, unsupported_charset"
                    ),
                    "404": _err("invalid_token"),
                    "409": _err("answered_elsewhere"),
                    "410": _err("revoked, expired"),
                    "413": _err("too_large"),
                    "422": _err("invalid_input, with one message per field"),
                    "429": _limited(),
                    "503": _err("unavailable"),
                },
            }
        },
    },
    "components": {"schemas": {"Link": _LINK, "Error": _ERROR}},
}
