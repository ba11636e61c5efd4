"""Typed keys for what the application holds; created and closed in ``app.cleanup_ctx``."""

from __future__ import annotations

from aiohttp import web

from linkserver.languages import Languages
from linkserver.processes import ProcessSlot
from linkserver.ratelimit import FailureLimiter
from linkserver.redemption import Redeemer
from linkserver.settings import LinkServerSettings
from tokenstore.db import Database

SETTINGS = web.AppKey("settings", LinkServerSettings)
DB = web.AppKey("db", Database)
REDEEMER = web.AppKey("redeemer", Redeemer)
LIMITER = web.AppKey("limiter", FailureLimiter)
LANGUAGES = web.AppKey("languages", Languages)
PROCESS = web.AppKey("process", ProcessSlot)
