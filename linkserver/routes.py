"""The URL map of the link server."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from linkserver import api, assets, health, views

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/l/{token}", views.show_link, name="link")  # also answers HEAD
    app.router.add_post("/l/{token}", views.use_link)
    app.router.add_get("/api/v1/links/{token}", api.get_link)
    app.router.add_post("/api/v1/links/{token}/redeem", api.redeem_link)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    # Before the static folder, whose prefix would otherwise claim these paths.
    app.router.add_get("/static/logo", assets.logo)
    app.router.add_get("/static/theme.css", assets.theme)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)


def setup_admin_routes(app: web.Application) -> None:
    """The admin listener: never exposed to the internet, so /metrics lives only here."""
    app.router.add_get("/metrics", health.metrics_page)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
