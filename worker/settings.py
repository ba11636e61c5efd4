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
    SettingsError,
    Variable,
    address,
    duration,
    read,
    setting,
    text,
    whole,
)
from worker.webhook import Webhook, webhooks_from_env

SMTP_SECURITIES = ("starttls", "tls", "none")
# The submission port for STARTTLS; implicit TLS listens on 465.
SMTP_PORT = 587
SMTPS_PORT = 465


def _security(name: str, value: str) -> str:
    if value.lower() not in SMTP_SECURITIES:
        raise SettingsError(f"{name}: {value!r} must be one of {', '.join(SMTP_SECURITIES)}")
    return value.lower()


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
    # The send-links-email topic (worker/mail.py); without SMTP_HOST its tasks are incidents.
    setting("SMTP_HOST", "mail server host for send-links-email", text, "worker"),
    setting("SMTP_PORT", "mail server port (default 587; 465 for tls)", whole(1), "worker"),
    setting("SMTP_SECURITY", "starttls (default), tls (implicit) or none", _security, "worker"),
    setting("SMTP_USERNAME", "mail server login (optional)", text, "worker"),
    setting("SMTP_PASSWORD", "mail server password", text, "worker", secret=True),
    setting("SMTP_FROM", "From: address of link mails", text, "worker"),
    setting("SMTP_TIMEOUT", "mail server timeout (ISO 8601)", duration, "worker"),
    setting("SMTP_CA_FILE", "CA certificates (PEM) to trust for the mail server", text, "worker"),
    setting("TEMPLATE_DIR", "mail templates overriding the shipped ones", text, "worker"),
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
    smtp_host: str | None = None
    smtp_port: int | None = None  # None: 587, or 465 for implicit TLS
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_timeout: dt.timedelta = dt.timedelta(seconds=30)
    smtp_ca_file: str | None = None
    template_dir: str | None = None
    # The receivers of send-links-webhook, by <NAME> (ACTION_LINKS_WEBHOOK_<NAME>_URL).
    webhooks: Mapping[str, Webhook] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        shared, reaper = Settings.from_env(environ), ReaperSettings.from_env(environ)
        hooks = webhooks_from_env(os.environ if environ is None else environ)
        return read(
            lambda **values: cls(shared=shared, reaper=reaper, webhooks=hooks, **values),
            VARIABLES,
            environ,
        )
