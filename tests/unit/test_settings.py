"""Settings from the environment (shared, reaper, worker, link server): what is required, how
values are parsed, and what a mistake says."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import re
import socket
from pathlib import Path

import pytest

from actionlinks_cli import VARIABLES
from linkserver import settings as link_settings_module
from linkserver.settings import LinkServerSettings
from tests.support.keys import SIGNING_KEYS
from tokenstore import settings as settings_module
from tokenstore.settings import (
    PREFIX,
    DatabaseSettings,
    ReaperSettings,
    Settings,
    SettingsError,
    unknown_variables,
)
from worker import settings as worker_settings_module
from worker.settings import WorkerSettings

REQUIRED = {
    "ACTION_LINKS_DATABASE_URL": "postgresql://links@db.internal/links",
    "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
}


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**REQUIRED, **{PREFIX + k: v for k, v in env.items()}}


def from_env(**env: str) -> Settings:
    return Settings.from_env(_env(env))


def worker_from_env(**env: str) -> WorkerSettings:
    return WorkerSettings.from_env(_env(env))


def link_from_env(**env: str) -> LinkServerSettings:
    return LinkServerSettings.from_env(_env(env))


def setting_of(attr: str, **env: str) -> object:
    """The field ``attr`` of whichever settings object holds it."""
    read = (from_env(**env), ReaperSettings.from_env(_env(env)), worker_from_env(**env))
    for settings in (*read, link_from_env(**env)):
        if attr in {f.name for f in dataclasses.fields(settings)}:
            return getattr(settings, attr)
    raise AssertionError(f"no settings object has {attr}")


def test_defaults_with_only_the_required_variables() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.database_url == REQUIRED["ACTION_LINKS_DATABASE_URL"]
    assert settings.sqlalchemy_url == "postgresql+psycopg://links@db.internal/links"
    link = LinkServerSettings.from_env(REQUIRED)
    assert (link.listen.host, link.listen.port) == ("127.0.0.1", 8088)
    worker = WorkerSettings.from_env(REQUIRED)
    assert worker.lock_duration == dt.timedelta(seconds=30)
    assert worker.max_tasks == 10
    assert settings.camunda_headers() == {}


@pytest.mark.parametrize("missing", ["DATABASE_URL", "SIGNING_KEYS"])
@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_a_missing_required_variable_is_named(missing: str, value: str | None) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != PREFIX + missing}
    if value is not None:
        env[PREFIX + missing] = value
    with pytest.raises(SettingsError, match=f"{PREFIX}{missing} is required"):
        Settings.from_env(env)


def test_signing_keys_are_parsed_first_signs() -> None:
    keyring = from_env().keyring
    assert [key.kid for key in keyring.keys] == ["k1", "k0"]
    assert keyring.current.kid == "k1"
    assert keyring.keys[0].secret == b"test-secret-key-0123456789abcdef"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("no-colon", "kid:secret"),
        ("k1:short", "at least 16 bytes"),
        ("k 1:test-secret-key-0123456789abcdef", "must be 1-16 of"),
        ("k1:test-secret-key-0123456789abcdef,k1:other-secret-key-0123456789", "unique"),
    ],
)
def test_bad_signing_keys_are_named_without_the_secret(keys: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        from_env(SIGNING_KEYS=keys)
    assert str(caught.value).startswith(f"{PREFIX}SIGNING_KEYS: ")
    assert "0123456789" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "attr", "text", "expected"),
    [
        ("LOCK_DURATION", "lock_duration", "PT45S", dt.timedelta(seconds=45)),
        ("LONG_POLL", "long_poll", "PT1M", dt.timedelta(minutes=1)),
        ("RETENTION", "retention", "P90D", dt.timedelta(days=90)),
        ("SHUTDOWN_GRACE", "shutdown_grace", "PT1.5S", dt.timedelta(seconds=1.5)),
        ("MAX_TASKS", "max_tasks", "4", 4),
        ("TASK_RETRIES", "task_retries", "0", 0),
        ("REAP_BATCH", "reap_batch", " 100 ", 100),
    ],
)
def test_durations_and_counts_are_parsed(name: str, attr: str, text: str, expected: object) -> None:
    assert setting_of(attr, **{name: text}) == expected


@pytest.mark.parametrize("name", ["LOCK_DURATION", "CORRELATION_TIMEOUT", "REAP_INTERVAL"])
@pytest.mark.parametrize("text", ["30", "30s", "soon", "PT0S", "P1M"])
def test_a_bad_duration_names_the_variable_and_iso_8601(name: str, text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        setting_of(name.lower(), **{name: text})
    assert f"{PREFIX}{name}" in str(caught.value)
    assert "ISO 8601" in str(caught.value)


@pytest.mark.parametrize("text", ["PT", "PT0S", "-PT5S", "P1M", "P1Y"])
def test_a_duration_must_be_positive_and_no_longer_than_days(text: str) -> None:
    message = f"{PREFIX}RETENTION: {text!r} is not a positive ISO 8601 duration in days or less"
    with pytest.raises(SettingsError, match=f"^{message}"):
        ReaperSettings.from_env(_env({"RETENTION": text}))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("MAX_TASKS", "ten", "'ten' is not a whole number"),
        ("MAX_TASKS", "2.5", "'2.5' is not a whole number"),
        ("MAX_TASKS", "0", "must be at least 1"),
        ("REAP_BATCH", "-1", "must be at least 1"),
        ("TASK_RETRIES", "-1", "must be at least 0"),
    ],
)
def test_a_bad_count_names_the_variable(name: str, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{PREFIX}{name}: {message}$"):
        setting_of(name.lower(), **{name: text})


def test_the_default_worker_id_is_this_process_alone() -> None:
    worker_id = worker_from_env().worker_id
    assert worker_id == f"action-links-{socket.gethostname()}-{os.getpid()}"
    assert worker_id.endswith(f"-{os.getpid()}")


def test_a_worker_id_set_in_the_environment_wins() -> None:
    assert worker_from_env(WORKER_ID=" replica-a ").worker_id == "replica-a"


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("10.0.0.5:9000", "10.0.0.5", 9000),
        ("localhost:8080", "localhost", 8080),
        (":9000", "127.0.0.1", 9000),
        ("9000", "127.0.0.1", 9000),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("[::1]:8088", "::1", 8088),
    ],
)
def test_listen_is_host_and_port(listen: str, host: str, port: int) -> None:
    settings = link_from_env(LISTEN=listen)
    assert (settings.listen.host, settings.listen.port) == (host, port)


@pytest.mark.parametrize(
    "listen", ["localhost:http", "localhost:", "127.0.0.1:-1", "127.0.0.1:65536"]
)
def test_a_bad_listen_port_names_the_variable(listen: str) -> None:
    with pytest.raises(SettingsError, match=f"^{PREFIX}LISTEN: "):
        link_from_env(LISTEN=listen)


def test_urls_lose_a_trailing_slash() -> None:
    settings = from_env(CAMUNDA_URL="http://engine:8080/engine-rest/", PUBLIC_URL="https://x/")
    assert settings.camunda_url == "http://engine:8080/engine-rest"
    assert settings.public_url == "https://x"


def test_camunda_basic_auth() -> None:
    settings = from_env(CAMUNDA_USER="demo", CAMUNDA_PASSWORD="s3cret:pw")
    header = settings.camunda_headers()["Authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header.removeprefix("Basic ")) == b"demo:s3cret:pw"
    assert "s3cret" not in repr(settings)


def test_camunda_bearer_token_wins_over_basic_auth() -> None:
    settings = from_env(CAMUNDA_TOKEN="tok-123", CAMUNDA_USER="demo", CAMUNDA_PASSWORD="pw")
    assert settings.camunda_headers() == {"Authorization": "Bearer tok-123"}
    assert "tok-123" not in repr(settings)


def test_a_camunda_user_needs_a_password() -> None:
    with pytest.raises(SettingsError, match=f"{PREFIX}CAMUNDA_PASSWORD is required"):
        from_env(CAMUNDA_USER="demo")


def test_network_edge_settings_are_read_and_checked() -> None:
    settings = link_from_env(
        ADMIN_LISTEN="127.0.0.1:0",
        READ_TIMEOUT="PT2S",
        KEEPALIVE_TIMEOUT="PT5S",
        MAX_CONNECTIONS="50",
        MAX_CONNECTIONS_PER_CLIENT="5",
        TRUSTED_PROXIES="10.0.0.0/8, ::1",
        FAILED_LOOKUP_BURST="3",
        FAILED_LOOKUPS_PER_MINUTE="6",
    )
    assert (settings.admin_listen.host, settings.admin_listen.port) == ("127.0.0.1", 0)
    assert settings.read_timeout == dt.timedelta(seconds=2)
    assert settings.keepalive_timeout == dt.timedelta(seconds=5)
    assert (settings.max_connections, settings.max_connections_per_client) == (50, 5)
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert (settings.failed_lookup_burst, settings.failed_lookups_per_minute) == (3, 6)
    defaults = LinkServerSettings.from_env(REQUIRED)
    assert (defaults.admin_listen.host, defaults.admin_listen.port) == ("127.0.0.1", 9188)
    assert defaults.trusted_proxies == ()
    with pytest.raises(SettingsError, match=f"^{PREFIX}TRUSTED_PROXIES: 'proxy.internal'"):
        link_from_env(TRUSTED_PROXIES="proxy.internal")
    with pytest.raises(SettingsError, match=f"^{PREFIX}ADMIN_LISTEN: "):
        link_from_env(ADMIN_LISTEN="127.0.0.1:99999")


SECRETS = ["DATABASE_URL", "SIGNING_KEYS", "CAMUNDA_PASSWORD", "CAMUNDA_TOKEN"]
SECRET_VALUES = {
    "DATABASE_URL": "postgresql://links:s3cret@db.internal/links",
    "SIGNING_KEYS": "k9:file-secret-key-0123456789abcdef",
    "CAMUNDA_PASSWORD": "pa ss\n word",
    "CAMUNDA_TOKEN": "tok-123",
}


def _secret_value(settings: Settings, name: str) -> object:
    return {
        "DATABASE_URL": settings.database_url,
        "SIGNING_KEYS": ",".join(f"{k.kid}:{k.secret.decode()}" for k in settings.keyring.keys),
        "CAMUNDA_PASSWORD": settings.camunda_password,
        "CAMUNDA_TOKEN": settings.camunda_token,
    }[name]


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("ending", ["\n", "\r\n", ""], ids=["lf", "crlf", "none"])
def test_every_secret_can_come_from_a_file_one_newline_stripped(
    tmp_path: Path, name: str, ending: str
) -> None:
    path = tmp_path / name.lower()
    path.write_bytes((SECRET_VALUES[name] + ending).encode())
    env = {**REQUIRED, "ACTION_LINKS_CAMUNDA_USER": "demo", "ACTION_LINKS_CAMUNDA_PASSWORD": "x"}
    env.pop(PREFIX + name, None)
    env[PREFIX + name + "_FILE"] = str(path)
    settings = Settings.from_env(env)
    assert _secret_value(settings, name) == SECRET_VALUES[name]


@pytest.mark.parametrize("name", SECRETS)
def test_a_secret_and_its_file_together_are_an_error_naming_both(tmp_path: Path, name: str) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET_VALUES[name])
    env = {**REQUIRED, PREFIX + name: SECRET_VALUES[name], PREFIX + name + "_FILE": str(path)}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert f"{PREFIX}{name} and {PREFIX}{name}_FILE are both set" in str(raised.value)


def test_a_missing_secret_file_is_named_without_its_content(tmp_path: Path) -> None:
    env = {**REQUIRED, "ACTION_LINKS_CAMUNDA_TOKEN_FILE": str(tmp_path / "nope")}
    with pytest.raises(SettingsError, match="ACTION_LINKS_CAMUNDA_TOKEN_FILE: cannot read"):
        Settings.from_env(env)


def test_database_settings_read_the_url_from_a_file_too(tmp_path: Path) -> None:
    path = tmp_path / "url"
    path.write_text("postgresql://a@b/c\n")
    database = DatabaseSettings.from_env({"ACTION_LINKS_DATABASE_URL_FILE": str(path)})
    assert database.database_url == "postgresql://a@b/c"
    assert database.db_schema == "public"


def test_a_non_secret_has_no_file_variant() -> None:
    env = {**REQUIRED, "ACTION_LINKS_PUBLIC_URL_FILE": "/etc/hostname"}
    assert Settings.from_env(env).public_url == "http://127.0.0.1:8088"
    assert unknown_variables(VARIABLES, env) == ["ACTION_LINKS_PUBLIC_URL_FILE"]


def test_unknown_variables_are_named_test_ones_and_other_programs_are_not() -> None:
    env = {
        **REQUIRED,
        "ACTION_LINKS_LOCK_DURATON": "PT1M",  # the typo this exists for
        "ACTION_LINKS_SIGNING_KEYS_FILE": "/run/secrets/keys",
        "ACTION_LINKS_TEST_ANYTHING": "1",
        "ACTION_LINKS_ADMIN_LISTEN": "127.0.0.1:9188",
        "ACTION_LINKS_TRUSTED_PROXIES": "10.0.0.1",
        "ACTION_LINKSX": "1",
        "PATH": "/usr/bin",
    }
    assert unknown_variables(VARIABLES, env) == ["ACTION_LINKS_LOCK_DURATON"]


def test_the_table_knows_every_variable_the_settings_read() -> None:
    source = "\n".join(
        Path(module.__file__ or "").read_text()
        for module in (settings_module, worker_settings_module, link_settings_module)
    )
    read = set(
        re.findall(
            r'get\("([A-Z][A-Z_]*[A-Z])"\)|"([A-Z][A-Z_]*[A-Z])",?\s*$', source, re.MULTILINE
        )
    )
    names = {a or b for a, b in read} - {""}
    known = {v.name for v in VARIABLES}
    assert names and names <= known, names - known
    # Every field of a settings object is filled by exactly one line of its table.
    tables = [
        (settings_module.Settings, settings_module.SHARED),
        (ReaperSettings, settings_module.REAPER),
        (WorkerSettings, worker_settings_module.VARIABLES),
        (LinkServerSettings, link_settings_module.VARIABLES),
    ]
    for settings_class, table in tables:
        # webhooks: a family of variables by name (ACTION_LINKS_WEBHOOK_<NAME>_URL), read by
        # worker.webhook, and exempt from the unknown-variable warning by its pattern.
        not_in_a_table = {"shared", "reaper", "webhooks"}
        fields = {f.name for f in dataclasses.fields(settings_class)} - not_in_a_table
        assert sorted(v.field_name for v in table) == sorted(fields), settings_class
        assert {v.name for v in table} <= known


@pytest.mark.parametrize("schema", ["links_app", "_x1"])
def test_db_schema_accepts_plain_identifiers(schema: str) -> None:
    assert from_env(DB_SCHEMA=schema).db_schema == schema


@pytest.mark.parametrize("schema", ["Links", "a-b", "x;drop", "pg_temp", "1abc", "a" * 64])
def test_db_schema_refuses_anything_else(schema: str) -> None:
    with pytest.raises(SettingsError, match="ACTION_LINKS_DB_SCHEMA"):
        from_env(DB_SCHEMA=schema)


def test_worker_admin_listener_and_audit_retention() -> None:
    defaults = worker_from_env()
    assert (defaults.admin.host, defaults.admin.port) == ("127.0.0.1", 9189)
    assert defaults.reaper.audit_retention == dt.timedelta(days=400)
    chosen = worker_from_env(WORKER_ADMIN_LISTEN="[::1]:0", AUDIT_RETENTION="P90D")
    assert (chosen.admin.host, chosen.admin.port) == ("::1", 0)
    assert chosen.reaper.audit_retention == dt.timedelta(days=90)


@pytest.mark.parametrize("text", ["host:port", "h:70000", "h:"])
def test_a_bad_worker_admin_address_is_named(text: str) -> None:
    with pytest.raises(SettingsError, match="ACTION_LINKS_WORKER_ADMIN_LISTEN"):
        worker_from_env(WORKER_ADMIN_LISTEN=text)


def test_the_pages_language_settings_are_read_and_checked_at_start(tmp_path: Path) -> None:
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "fr" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid "Yes"\nmsgstr "Oui"\n', encoding="utf-8"
    )
    settings = LinkServerSettings.from_env(
        {
            **REQUIRED,
            "ACTION_LINKS_LOCALE": "fr",
            "ACTION_LINKS_LOCALE_DIR": str(tmp_path),
            "ACTION_LINKS_TIME_ZONE": "Europe/Berlin",
        }
    )
    languages = settings.languages()
    assert languages.choose(None, "de").tag == "fr"
    assert languages.zone(None).key == "Europe/Berlin"
    for name, value, message in [
        ("ACTION_LINKS_DEFAULT_LOCALE", "tlh", "no catalog for 'tlh'"),
        ("ACTION_LINKS_LOCALE", "fr", "no catalog for 'fr'"),
        ("ACTION_LINKS_LOCALE_DIR", str(tmp_path / "nope"), "is no directory"),
        ("ACTION_LINKS_TIME_ZONE", "Berlin", "no IANA time zone"),
    ]:
        with pytest.raises(SettingsError, match=message):
            LinkServerSettings.from_env({**REQUIRED, name: value})
