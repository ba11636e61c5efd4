"""The API description served at ``/api/openapi.json``: valid OpenAPI 3, and it lists every
JSON API route the link server registers, with its method."""

from __future__ import annotations

from aiohttp import web
from openapi_spec_validator import validate

from linkserver.openapi import OPENAPI
from linkserver.routes import setup_routes

# Routes for people, probes and the description itself: not part of the JSON API.
UNDESCRIBED = {
    ("GET", "/l/{token}"),
    ("POST", "/l/{token}"),
    ("GET", "/api/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/static"),
    ("GET", "/static/logo"),
    ("GET", "/static/theme.css"),
}


def _registered() -> set[tuple[str, str]]:
    app = web.Application()
    setup_routes(app)
    # aiohttp adds a HEAD route next to every GET one; the description names the GET.
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def _described() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in OPENAPI["paths"].items()
        for method in operations
    }


def test_the_description_is_valid_openapi_3() -> None:
    assert OPENAPI["openapi"].startswith("3.")
    validate(OPENAPI)


def test_the_description_lists_every_api_route_the_app_registers() -> None:
    assert _registered() - UNDESCRIBED == _described()


def test_the_undescribed_routes_all_exist() -> None:
    assert UNDESCRIBED.issubset(_registered())


def test_every_operation_has_an_id_and_describes_its_errors() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"], (method, path)
            assert "404" in operation["responses"], (method, path)
            assert "503" in operation["responses"], (method, path)
