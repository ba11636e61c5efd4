"""The bare references the benchmark holds our link server against, and the stand-in engine.

    python -m bench.bare reference --port P --database-url URL --engine-url URL --keys K
    python -m bench.bare standin --port P

``reference`` is the least a link server can do, in one aiohttp app on a psycopg pool:
``POST /api/v1/links/{token}/redeem`` checks the HMAC, locks and updates the link row in one
transaction, then sends the same ``POST /message``; ``GET /l/{token}`` answers a forged token
with a fixed 404 after the HMAC check, and an open link with the same read and the same
template as ours. ``standin`` is an engine that answers every correlation with 204, so the
link server's own cost is what is measured. Both run as their own process, like ours.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from linkserver.languages import Languages
from linkserver.presentation import UTC_ZONE
from linkserver.rendering import masked_recipient, render
from tokenstore.errors import InvalidToken
from tokenstore.schema import DEFAULT_SCHEMA, connect_args
from tokenstore.tokens import Keyring, verify

LOCK = (
    "SELECT l.id, g.process_instance_id, g.message_name FROM links l"
    " JOIN link_groups g ON g.id = l.group_id"
    " WHERE l.token_hash = %s AND l.state = 'active' FOR UPDATE OF l"
)
UPDATE = "UPDATE links SET state = 'redeemed', uses = uses + 1, changed_at = now() WHERE id = %s"
READ = (
    "SELECT l.label, g.description, g.expires_at, g.recipient FROM links l"
    " JOIN link_groups g ON g.id = l.group_id WHERE l.token_hash = %s"
)
NOT_FOUND = "<!doctype html><title>Not found</title><p>This link is not valid.</p>"


def reference(database_url: str, engine_url: str, keys: str) -> web.Application:
    keyring = Keyring.parse(keys)
    english = Languages.load()["en"]
    pool = AsyncConnectionPool(
        database_url, min_size=10, max_size=10, kwargs=connect_args(DEFAULT_SCHEMA), open=False
    )
    app = web.Application()

    async def lifecycle(app: web.Application) -> Any:
        await pool.open(wait=True)
        app["http"] = aiohttp.ClientSession()
        yield
        await app["http"].close()
        await pool.close()

    async def redeem(request: web.Request) -> web.Response:
        try:
            token_hash = verify(keyring, request.match_info["token"])
        except InvalidToken:
            return web.json_response({"code": "invalid_token"}, status=404)
        async with pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(LOCK, (token_hash,))).fetchone()
            if row is None:
                return web.json_response({"code": "not_open"}, status=409)
            await conn.execute(UPDATE, (row[0],))
        body = {
            "messageName": row[2],
            "processInstanceId": row[1],
            "processVariables": {"ok": {"value": True, "type": "Boolean"}},
        }
        async with app["http"].post(f"{engine_url}/message", json=body) as response:
            await response.read()
        return web.json_response({"status": "redeemed"}, status=200)

    async def page(request: web.Request) -> web.Response:
        try:
            token_hash = verify(keyring, request.match_info["token"])
        except InvalidToken:
            return web.Response(text=NOT_FOUND, status=404, content_type="text/html")
        async with pool.connection() as conn:
            row = await (await conn.execute(READ, (token_hash,))).fetchone()
        if row is None:
            return web.Response(text=NOT_FOUND, status=404, content_type="text/html")
        label, description, expires_at, recipient = row
        return render(
            english,
            "confirm.html",
            notice=None,
            title=f"{label}?",
            label=label,
            description=description,
            details=[],
            expires=english.moment(expires_at, UTC_ZONE),
            recipient=masked_recipient(recipient),
            fields=[],
            summary=[],
        )

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/api/v1/links/{token}/redeem", redeem)
    app.router.add_get("/l/{token}", page)
    return app


def standin() -> web.Application:
    async def message(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/message", message)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("reference", "standin"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--engine-url", default="")
    parser.add_argument("--keys", default="")
    args = parser.parse_args()
    if args.kind == "reference":
        app = reference(args.database_url, args.engine_url, args.keys)
    else:
        app = standin()
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
