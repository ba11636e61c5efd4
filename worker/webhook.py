"""The webhook of ``send-links-webhook``: operator-configured receivers, the signed POST.

A receiver is configured by name, ``ACTION_LINKS_WEBHOOK_<NAME>_URL`` and ``_SECRET`` (or
``_SECRET_FILE``); a model names it, never a URL. Each POST carries

- ``X-Action-Links-Timestamp``: Unix seconds when it was signed,
- ``X-Action-Links-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body>`` under
  the secret,
- ``X-Action-Links-Delivery``: the same id for every attempt of one task, so a receiver can
  drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from tokenstore.settings import PREFIX, SettingsError, read_secret_file
from worker.errors import ChannelRefused, ChannelUnavailable

SIGNATURE_HEADER = "X-Action-Links-Signature"
TIMESTAMP_HEADER = "X-Action-Links-Timestamp"
DELIVERY_HEADER = "X-Action-Links-Delivery"
# ACTION_LINKS_WEBHOOK_<NAME>_URL, <NAME> in capitals, digits and underscores.
URL_VARIABLE = re.compile(rf"^{PREFIX}WEBHOOK_([A-Z0-9]+(?:_[A-Z0-9]+)*)_URL$")
MIN_SECRET_CHARS = 16
# Answers that say "this request will never be taken": the receiver must change first.
# 408 and 429 are "later", like any 5xx.
RETRY_LATER = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    secret: str = field(repr=False)


def variable_name(name: str) -> str:
    """The ``<NAME>`` of a webhook a model calls ``sms-gateway``: ``SMS_GATEWAY``."""
    return name.upper().replace("-", "_")


def webhooks_from_env(environ: Mapping[str, str]) -> dict[str, Webhook]:
    """Every configured receiver, by ``<NAME>``; a URL without a secret is a settings error."""
    found: dict[str, Webhook] = {}
    for key, value in environ.items():
        match = URL_VARIABLE.match(key)
        if not match or not value.strip():
            continue
        name = match.group(1)
        url = value.strip()
        if not url.startswith(("https://", "http://")):
            raise SettingsError(f"{key}: {url[:60]!r} is not an http(s) URL")
        found[name] = Webhook(name, url, _secret(environ, name))
    return found


def _secret(environ: Mapping[str, str], name: str) -> str:
    key = f"{PREFIX}WEBHOOK_{name}_SECRET"
    file_key = key + "_FILE"
    if key in environ and file_key in environ:
        raise SettingsError(f"{key} and {file_key} are both set; set only one of them")
    secret = (
        read_secret_file(file_key, environ[file_key].strip())
        if file_key in environ
        else environ.get(key, "")
    )
    if len(secret) < MIN_SECRET_CHARS:
        raise SettingsError(
            f"{key} (or {file_key}) must hold a secret of at least {MIN_SECRET_CHARS} "
            "characters to sign the requests with"
        )
    return secret


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


async def post(
    http: httpx.AsyncClient,
    webhook: Webhook,
    body: bytes,
    delivery_id: str,
    timestamp: int,
    timeout_s: float,
) -> int:
    """POST the signed body; returns the receiver's status when it took it (2xx)."""
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(webhook.secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
    }
    try:
        response = await http.post(webhook.url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ChannelUnavailable(
            f"webhook {webhook.name} could not be reached ({type(exc).__name__}: {exc})"[:500]
        ) from exc
    status = response.status_code
    if 200 <= status < 300:
        return status
    # Only the status: a receiver's body may echo the request, and with it the tokens.
    what = f"webhook {webhook.name} answered HTTP {status}"
    if status < 500 and status not in RETRY_LATER:
        raise ChannelRefused(what)
    raise ChannelUnavailable(what)
