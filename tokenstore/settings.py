"""One settings object, read once from ``ACTION_LINKS_*`` variables at an entry point."""

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

import isodate

from tokenstore.schema import DEFAULT_SCHEMA, SchemaNameError, checked_schema
from tokenstore.tokens import Keyring

PREFIX = "ACTION_LINKS_"
MAX_PORT = 65535


class SettingsError(ValueError):
    """The configuration is incomplete or wrong."""


def _duration(name: str, text: str) -> dt.timedelta:
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise SettingsError(f"{PREFIX}{name}: {text!r} is not an ISO 8601 duration") from exc
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise SettingsError(
            f"{PREFIX}{name}: {text!r} is not a positive ISO 8601 duration in days or less, "
            "e.g. PT10M"
        )
    return value


def _int(name: str, text: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name}: {text!r} is not a whole number") from exc
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name}: must be at least {minimum}")
    return value


def default_worker_id() -> str:
    """A worker id of this process alone, so Camunda's lock check tells replicas apart."""
    # A shared id would let one replica complete, or extend, a task another has re-fetched.
    return f"action-links-{socket.gethostname()}-{os.getpid()}"


def _port(text: str) -> int:
    port = _int("LISTEN", text, minimum=0)
    if port > MAX_PORT:
        raise SettingsError(f"{PREFIX}LISTEN: port {port} is above {MAX_PORT}")
    return port


def _schema(text: str | None) -> str:
    try:
        return checked_schema(text or DEFAULT_SCHEMA)
    except SchemaNameError as exc:
        raise SettingsError(f"{PREFIX}DB_SCHEMA: {exc}") from exc


def sqlalchemy_url(url: str) -> str:
    """Point a plain ``postgresql://`` URL at psycopg 3, the driver this project ships."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


@dataclass(frozen=True)
class DatabaseSettings:
    """What the commands that only touch Postgres (``migrate``, ``links``, ``answers``) need."""

    database_url: str = field(repr=False)
    db_schema: str = DEFAULT_SCHEMA

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseSettings:
        env = os.environ if environ is None else environ
        url = (env.get(PREFIX + "DATABASE_URL") or "").strip()
        if not url:
            raise SettingsError(f"{PREFIX}DATABASE_URL is required")
        return cls(url, _schema((env.get(PREFIX + "DB_SCHEMA") or "").strip() or None))


@dataclass(frozen=True)
class Settings:
    database_url: str
    keyring: Keyring = field(repr=False)
    camunda_url: str = "http://localhost:8080/engine-rest"
    camunda_user: str | None = None
    camunda_password: str | None = field(default=None, repr=False)
    camunda_token: str | None = field(default=None, repr=False)
    public_url: str = "http://127.0.0.1:8088"
    listen_host: str = "127.0.0.1"
    listen_port: int = 8088
    # worker
    # Built with the settings (so in from_env when ACTION_LINKS_WORKER_ID is unset), not at
    # import, and for a Settings made directly too.
    worker_id: str = field(default_factory=default_worker_id)
    max_tasks: int = 10
    lock_duration: dt.timedelta = dt.timedelta(seconds=30)
    long_poll: dt.timedelta = dt.timedelta(seconds=20)
    task_retries: int = 3
    retry_timeout: dt.timedelta = dt.timedelta(seconds=30)
    # link server delivery
    correlation_timeout: dt.timedelta = dt.timedelta(seconds=10)
    not_yet_window: dt.timedelta = dt.timedelta(minutes=10)
    # clean-up
    reap_interval: dt.timedelta = dt.timedelta(minutes=5)
    retention: dt.timedelta = dt.timedelta(days=30)
    reap_batch: int = 500
    shutdown_grace: dt.timedelta = dt.timedelta(seconds=20)
    # the Postgres schema of the product's tables (every connection's search_path)
    db_schema: str = DEFAULT_SCHEMA

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value.strip() if value and value.strip() else None

        database_url, keys = get("DATABASE_URL"), get("SIGNING_KEYS")
        if not database_url:
            raise SettingsError(f"{PREFIX}DATABASE_URL is required")
        if not keys:
            raise SettingsError(f"{PREFIX}SIGNING_KEYS is required (kid:secret, comma separated)")
        try:
            keyring = Keyring.parse(keys)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}SIGNING_KEYS: {exc}") from exc
        host, _, port = (get("LISTEN") or "127.0.0.1:8088").rpartition(":")
        host = host.removeprefix("[").removesuffix("]")  # [::1]:8088
        values: dict[str, object] = {
            "database_url": database_url,
            "keyring": keyring,
            "listen_host": host or "127.0.0.1",
            "listen_port": _port(port),
        }
        texts = {
            "camunda_url": "CAMUNDA_URL",
            "camunda_user": "CAMUNDA_USER",
            "camunda_password": "CAMUNDA_PASSWORD",
            "camunda_token": "CAMUNDA_TOKEN",
            "public_url": "PUBLIC_URL",
            "worker_id": "WORKER_ID",
        }
        durations = {
            "lock_duration": "LOCK_DURATION",
            "long_poll": "LONG_POLL",
            "retry_timeout": "RETRY_TIMEOUT",
            "correlation_timeout": "CORRELATION_TIMEOUT",
            "not_yet_window": "NOT_YET_WINDOW",
            "reap_interval": "REAP_INTERVAL",
            "retention": "RETENTION",
            "shutdown_grace": "SHUTDOWN_GRACE",
        }
        counts = {
            "max_tasks": "MAX_TASKS",
            "task_retries": "TASK_RETRIES",
            "reap_batch": "REAP_BATCH",
        }
        for attr, name in texts.items():
            if (text := get(name)) is not None:
                values[attr] = text.rstrip("/") if attr.endswith("_url") else text
        for attr, name in durations.items():
            if (text := get(name)) is not None:
                values[attr] = _duration(name, text)
        for attr, name in counts.items():
            if (text := get(name)) is not None:
                values[attr] = _int(name, text, minimum=0 if attr == "task_retries" else 1)
        values["db_schema"] = _schema(get("DB_SCHEMA"))
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.camunda_user and not settings.camunda_password:
            raise SettingsError(f"{PREFIX}CAMUNDA_PASSWORD is required with CAMUNDA_USER")
        return settings

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url)

    def camunda_headers(self) -> dict[str, str]:
        """Authorization for the engine REST API: bearer token or basic auth, if configured."""
        if self.camunda_token:
            return {"Authorization": f"Bearer {self.camunda_token}"}
        if self.camunda_user and self.camunda_password:
            pair = f"{self.camunda_user}:{self.camunda_password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}
