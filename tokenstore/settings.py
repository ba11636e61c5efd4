"""Settings read once from ``ACTION_LINKS_*`` variables at an entry point, by one table-driven
reader.

Each variable is one line of a table: its name, what it means, the commands that read it, and
the parser that turns its text into the field of the same name (or ``attr``); an unset
variable leaves the field's default. The shared fields and the reaper's live here; each
daemon's own tunables live beside it (``worker/settings.py``, ``linkserver/settings.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

import isodate

from tokenstore.schema import DEFAULT_SCHEMA, SchemaNameError, checked_schema
from tokenstore.tokens import Keyring

PREFIX = "ACTION_LINKS_"
FILE_SUFFIX = "_FILE"
MAX_PORT = 65535
# The worker's webhook receivers, one family per name a model may use (worker/webhook.py).
WEBHOOK_VARIABLE = re.compile(
    rf"^{PREFIX}WEBHOOK_[A-Z0-9]+(?:_[A-Z0-9]+)*_(?:URL|SECRET|SECRET_FILE)$"
)
# Used by the test suite and its fixtures; never warned about.
TEST_PREFIX = PREFIX + "TEST_"

DAEMONS = frozenset({"worker", "serve"})
DATABASE_COMMANDS = frozenset({"worker", "serve", "reap", "migrate", "links", "answers"})
ALL_COMMANDS = DATABASE_COMMANDS
LOG_FORMATS = ("text", "json")

T = TypeVar("T")
# A parser gets the variable's full name (for its error) and its stripped, non-empty text.
Parse = Callable[[str, str], object]


class SettingsError(ValueError):
    """The configuration is incomplete or wrong."""


@dataclass(frozen=True)
class Variable:
    """One ``ACTION_LINKS_*`` variable: who reads it, how, and whether ``<NAME>_FILE`` may hold
    it."""

    name: str
    meaning: str
    commands: frozenset[str]
    parse: Parse = field(repr=False)
    secret: bool = False
    # The settings field it fills; the lower-cased name unless given.
    attr: str = ""
    # Set for a required variable: what its "is required" error adds (may be empty).
    required: str | None = None

    @property
    def env_name(self) -> str:
        return PREFIX + self.name

    @property
    def field_name(self) -> str:
        return self.attr or self.name.lower()


def setting(
    name: str,
    meaning: str,
    parse: Parse,
    *commands: str,
    secret: bool = False,
    attr: str = "",
    required: str | None = None,
) -> Variable:
    """One line of a settings table."""
    return Variable(name, meaning, frozenset(commands), parse, secret, attr, required)


# Parsers -------------------------------------------------------------------------------------


def text(name: str, value: str) -> str:
    return value


def url(name: str, value: str) -> str:
    return value.rstrip("/")


def duration(name: str, value: str) -> dt.timedelta:
    """A positive ISO 8601 duration of days or less (``PT10M``, ``P30D``)."""
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise SettingsError(f"{name}: {value!r} is not an ISO 8601 duration") from exc
    if not isinstance(parsed, dt.timedelta) or parsed <= dt.timedelta(0):
        raise SettingsError(
            f"{name}: {value!r} is not a positive ISO 8601 duration in days or less, e.g. PT10M"
        )
    return parsed


def _whole(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: {value!r} is not a whole number") from exc
    if number < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return number


def whole(minimum: int = 1) -> Parse:
    """A whole number of at least ``minimum``."""
    return lambda name, value: _whole(name, value, minimum)


class Address(NamedTuple):
    host: str
    port: int


def address(name: str, value: str) -> Address:
    """``host:port`` (``[::1]:9189`` for IPv6; ``9189`` or ``:9189`` for loopback); port 0 lets
    the system choose."""
    host, _, port_text = value.rpartition(":")
    port = _whole(name, port_text, 0)
    if port > MAX_PORT:
        raise SettingsError(f"{name}: port {port} is above {MAX_PORT}")
    return Address(host.removeprefix("[").removesuffix("]") or "127.0.0.1", port)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(name: str, value: str) -> tuple[Network, ...]:
    """A comma separated list of addresses or CIDR blocks."""
    found = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise SettingsError(f"{name}: {part!r} is not an IP address or CIDR block") from exc
    return tuple(found)


def _keyring(name: str, value: str) -> Keyring:
    try:
        return Keyring.parse(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc


def _schema(name: str, value: str) -> str:
    try:
        return checked_schema(value)
    except SchemaNameError as exc:
        raise SettingsError(f"{name}: {exc}") from exc


def _log_format(name: str, value: str) -> str:
    chosen = value.lower()
    if chosen not in LOG_FORMATS:
        raise SettingsError(f"{name}: {chosen!r} is not one of {', '.join(LOG_FORMATS)}")
    return chosen


# The tables ----------------------------------------------------------------------------------

DATABASE_URL = setting(
    "DATABASE_URL", "Postgres URL", text, *DATABASE_COMMANDS, secret=True, required=""
)
DB_SCHEMA = setting(
    "DB_SCHEMA", "Postgres schema of the tables (default public)", _schema, *DATABASE_COMMANDS
)
LOG_FORMAT = setting(
    "LOG_FORMAT", "text (default) or json: one JSON object per line", _log_format, *ALL_COMMANDS
)
# What more than one process reads. A new setting is one line in a table.
SHARED: tuple[Variable, ...] = (
    DATABASE_URL,
    DB_SCHEMA,
    setting(
        "SIGNING_KEYS",
        "kid:secret pairs; the first signs",
        _keyring,
        "worker",
        "serve",
        "reap",
        secret=True,
        attr="keyring",
        required=" (kid:secret, comma separated)",
    ),
    setting("CAMUNDA_URL", "engine REST base", url, *DAEMONS),
    setting("CAMUNDA_USER", "basic auth user to the engine", text, *DAEMONS),
    setting("CAMUNDA_PASSWORD", "basic auth password", text, *DAEMONS, secret=True),
    setting("CAMUNDA_TOKEN", "bearer token to the engine", text, *DAEMONS, secret=True),
    setting("PUBLIC_URL", "base of the links people receive", url, *DAEMONS),
    setting("SHUTDOWN_GRACE", "drain time on SIGTERM", duration, *DAEMONS),
)
# What ``reap`` and the worker's periodic reaper read.
REAPER: tuple[Variable, ...] = (
    setting("RETENTION", "how long expired groups are kept", duration, "worker", "reap"),
    setting("REAP_BATCH", "rows per reaper batch", whole(1), "worker", "reap"),
    setting("AUDIT_RETENTION", "how long audit events are kept", duration, "worker", "reap"),
)
# Every variable tokenstore reads; the daemons add theirs (see ``actionlinks_cli.VARIABLES``).
VARIABLES: tuple[Variable, ...] = (*SHARED, *REAPER, LOG_FORMAT)


# The reader ----------------------------------------------------------------------------------


def read(
    make: Callable[..., T], variables: Iterable[Variable], environ: Mapping[str, str] | None
) -> T:
    """``make(**fields)`` from the variables that are set; the one reader of every setting."""
    variables = tuple(variables)
    env = resolved_environment(environ, variables)
    values: dict[str, object] = {}
    for variable in variables:
        value = (env.get(variable.env_name) or "").strip()
        if not value:
            if variable.required is not None:
                raise SettingsError(f"{variable.env_name} is required{variable.required}")
            continue
        values[variable.field_name] = variable.parse(variable.env_name, value)
    return make(**values)


def variables_for(command: str, variables: Sequence[Variable]) -> list[Variable]:
    """The variables ``command`` reads, in table order."""
    return [v for v in variables if command in v.commands]


def known_names(variables: Sequence[Variable]) -> set[str]:
    """Every ``ACTION_LINKS_*`` name in the table, ``*_FILE`` forms included."""
    names = {v.env_name for v in variables}
    return names | {v.env_name + FILE_SUFFIX for v in variables if v.secret}


def unknown_variables(
    variables: Sequence[Variable], environ: Mapping[str, str] | None = None
) -> list[str]:
    """``ACTION_LINKS_*`` names in the environment that nothing reads (a typo, usually)."""
    env = os.environ if environ is None else environ
    known = known_names(variables)
    return sorted(
        name
        for name in env
        if name.startswith(PREFIX)
        and name not in known
        and not name.startswith(TEST_PREFIX)
        and not WEBHOOK_VARIABLE.match(name)
    )


def read_secret_file(name: str, path: str) -> str:
    """The text of the secret file ``path`` (given as ``name``), less one trailing newline."""
    return _read_secret_file(name, path)


def _read_secret_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            content = file.read()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{name}: {path} is not UTF-8 text") from exc
    # Editors and `echo` add one newline; anything else in the file is the value.
    return content.removesuffix("\n").removesuffix("\r")


def resolved_environment(
    environ: Mapping[str, str] | None = None, variables: Iterable[Variable] = ()
) -> dict[str, str]:
    """The environment with every ``ACTION_LINKS_<SECRET>_FILE`` replaced by the file's text.

    The shared secrets always; a daemon's own (``variables``, e.g. the worker's SMTP password)
    when its reader passes them.
    """
    env = dict(os.environ if environ is None else environ)
    table = {v.env_name: v for v in (*VARIABLES, *variables)}
    for variable in table.values():
        file_name = variable.env_name + FILE_SUFFIX
        path = env.pop(file_name, None) if variable.secret else None
        if path is None:
            continue
        if variable.env_name in env:
            raise SettingsError(
                f"{variable.env_name} and {file_name} are both set; set only one of them"
            )
        env[variable.env_name] = _read_secret_file(file_name, path.strip())
    return env


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """``text`` or ``json``, from ``ACTION_LINKS_LOG_FORMAT``."""
    env = os.environ if environ is None else environ
    value = (env.get(LOG_FORMAT.env_name) or "text").strip()
    return str(LOG_FORMAT.parse(LOG_FORMAT.env_name, value))


def sqlalchemy_url(database_url: str) -> str:
    """Point a plain ``postgresql://`` URL at psycopg 3, the driver this project ships."""
    for plain in ("postgresql://", "postgres://"):
        if database_url.startswith(plain):
            return "postgresql+psycopg://" + database_url[len(plain) :]
    return database_url


# The settings objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseSettings:
    """What the commands that only touch Postgres (``migrate``, ``links``, ``answers``) need."""

    database_url: str = field(repr=False)
    db_schema: str = DEFAULT_SCHEMA

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseSettings:
        return read(cls, (DATABASE_URL, DB_SCHEMA), environ)


@dataclass(frozen=True)
class Settings:
    """What every process that touches the store and the engine shares."""

    database_url: str
    keyring: Keyring = field(repr=False)
    camunda_url: str = "http://localhost:8080/engine-rest"
    camunda_user: str | None = None
    camunda_password: str | None = field(default=None, repr=False)
    camunda_token: str | None = field(default=None, repr=False)
    public_url: str = "http://127.0.0.1:8088"
    shutdown_grace: dt.timedelta = dt.timedelta(seconds=20)
    # the Postgres schema of the product's tables (every connection's search_path)
    db_schema: str = DEFAULT_SCHEMA

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        settings = read(cls, SHARED, environ)
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


@dataclass(frozen=True)
class ReaperSettings:
    """How long expired links and audit events are kept, and how many rows a batch takes."""

    retention: dt.timedelta = dt.timedelta(days=30)
    reap_batch: int = 500
    audit_retention: dt.timedelta = dt.timedelta(days=400)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReaperSettings:
        return read(cls, REAPER, environ)
