"""Who a request came from: the peer, or what trusted proxies say it was, and what the audit
trail records of it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from aiohttp import hdrs, web

from linkserver.appkeys import SETTINGS
from tokenstore.model import ClientInfo
from tokenstore.settings import Network

UNKNOWN = "unknown"
MAX_USER_AGENT_CHARS = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def is_trusted(address: str | None, trusted: Sequence[Network]) -> bool:
    ip = _ip(address) if address else None
    return ip is not None and any(ip in network for network in trusted)


def resolve(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client address: walk X-Forwarded-For from the right while the hop is trusted.

    Only a trusted proxy's word counts, so a client cannot pick its own address by sending the
    header; the first untrusted hop from the right is the client (aiohttp-remotes' strict rule).
    """
    if not peer:
        return UNKNOWN
    if not is_trusted(peer, trusted):
        return peer
    client = peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break  # garbage from the client side of the chain: keep the last hop we trust
        client = str(ip)
        if not any(ip in network for network in trusted):
            break
    return client


def client_address(request: web.BaseRequest, trusted: Sequence[Network]) -> str:
    return resolve(request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, []), trusted)


def clean_user_agent(raw: str | None) -> str | None:
    """A User-Agent fit to store: valid UTF-8, one printable line, bounded.

    aiohttp hands over undecodable header bytes as surrogates, which the database refuses; the
    answer must still be recorded, so they become U+FFFD instead.
    """
    if not raw:
        return None
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = _CONTROL.sub("", text).strip()
    return text[:MAX_USER_AGENT_CHARS] or None


def client_info(request: web.Request) -> ClientInfo:
    settings = request.app[SETTINGS]
    # The same address the guessing limit counts, so the audit trail names the real client.
    ip = client_address(request, settings.trusted_proxies)
    return ClientInfo(
        ip_hash=settings.shared.keyring.fingerprint(ip) if ip != UNKNOWN else None,
        user_agent=clean_user_agent(request.headers.get("User-Agent")),
    )
