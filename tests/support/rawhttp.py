"""Raw HTTP over sockets, for requests no HTTP client would send (bad lines, odd paths)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

READ_LIMIT_S = 30


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def parse(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, body)


def host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def exchange(base_url: str, request: bytes, source: str | None = None) -> RawResponse:
    """Send bytes as they are, read until the server closes, and parse the answer."""
    host, port = host_port(base_url)
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=(source, 0) if source else None
    )
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), READ_LIMIT_S)
    finally:
        writer.close()
        await writer.wait_closed()
    return parse(data)


def get(path: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: links\r\nConnection: close\r\n{extra}\r\n".encode()
