"""Typed keys for what the application holds; created and closed in ``app.cleanup_ctx``."""

from __future__ import annotations

from aiohttp import web

from linkserver.ratelimit import FailureLimiter
from linkserver.redemption import Redeemer
from tokenstore.db import Database
from tokenstore.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
REDEEMER = web.AppKey("redeemer", Redeemer)
LIMITER = web.AppKey("limiter", FailureLimiter)
