"""Typed keys for what the application holds; created and closed in ``app.cleanup_ctx``."""

from __future__ import annotations

import jinja2
from aiohttp import web

from linkserver.ratelimit import FailureLimiter
from linkserver.redemption import Redeemer
from linkserver.settings import LinkServerSettings
from tokenstore.db import Database

SETTINGS = web.AppKey("settings", LinkServerSettings)
DB = web.AppKey("db", Database)
REDEEMER = web.AppKey("redeemer", Redeemer)
LIMITER = web.AppKey("limiter", FailureLimiter)
# The pages' jinja environment (linkserver.rendering.environment), built once per app.
TEMPLATES = web.AppKey("templates", jinja2.Environment)
