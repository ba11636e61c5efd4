"""Which address a request came from: the peer, or what trusted proxies say it was."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import hdrs, web

from tokenstore.settings import Network

UNKNOWN = "unknown"


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
