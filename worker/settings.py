"""The worker's own tunables, read by tokenstore's table-driven reader."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from tokenstore.settings import (
    Address,
    ReaperSettings,
    Settings,
    Variable,
    address,
    duration,
    read,
    setting,
    text,
    whole,
)

VARIABLES: tuple[Variable, ...] = (
    setting("WORKER_ID", "worker id shown in Camunda", text, "worker"),
    setting("MAX_TASKS", "tasks handled at once", whole(1), "worker"),
    setting("LOCK_DURATION", "external task lock (ISO 8601)", duration, "worker"),
    setting("LONG_POLL", "fetch-and-lock long polling (ISO 8601)", duration, "worker"),
    setting("TASK_RETRIES", "retries for transient faults", whole(0), "worker"),
    setting("RETRY_TIMEOUT", "pause between those retries (ISO 8601)", duration, "worker"),
    setting("REAP_INTERVAL", "reaper period (ISO 8601)", duration, "worker"),
    setting(
        "WORKER_ADMIN_LISTEN",
        "worker /healthz and /metrics address host:port",
        address,
        "worker",
        attr="admin",
    ),
)

ADMIN_LISTEN = Address("127.0.0.1", 9189)


def default_worker_id() -> str:
    """A worker id of this process alone, so Camunda's lock check tells replicas apart."""
    # A shared id would let one replica complete, or extend, a task another has re-fetched.
    return f"action-links-{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    """The settings of ``action-links worker``: the shared ones, the reaper's, and its own."""

    shared: Settings
    reaper: ReaperSettings = field(default_factory=ReaperSettings)
    # Built with the settings (so in from_env when ACTION_LINKS_WORKER_ID is unset), not at
    # import, and for a WorkerSettings made directly too.
    worker_id: str = field(default_factory=default_worker_id)
    max_tasks: int = 10
    lock_duration: dt.timedelta = dt.timedelta(seconds=30)
    long_poll: dt.timedelta = dt.timedelta(seconds=20)
    task_retries: int = 3
    retry_timeout: dt.timedelta = dt.timedelta(seconds=30)
    reap_interval: dt.timedelta = dt.timedelta(minutes=5)
    # the worker's /healthz and /metrics
    admin: Address = ADMIN_LISTEN

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        shared, reaper = Settings.from_env(environ), ReaperSettings.from_env(environ)
        return read(
            lambda **values: cls(shared=shared, reaper=reaper, **values), VARIABLES, environ
        )
