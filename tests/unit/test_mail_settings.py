"""The worker's SMTP settings: defaults, implicit TLS's port, the password from a file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.keys import SIGNING_KEYS
from tokenstore.settings import SettingsError
from worker.mail import SmtpConfig
from worker.settings import WorkerSettings

REQUIRED = {
    "ACTION_LINKS_DATABASE_URL": "postgresql://links@db.internal/links",
    "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
}
MAIL = {"ACTION_LINKS_SMTP_HOST": "mail.internal", "ACTION_LINKS_SMTP_FROM": "links@example.com"}


def worker(**env: str) -> WorkerSettings:
    return WorkerSettings.from_env({**REQUIRED, **env})


def test_no_mail_server_unless_host_and_from_are_set() -> None:
    assert SmtpConfig.from_settings(worker()) is None
    assert SmtpConfig.from_settings(worker(ACTION_LINKS_SMTP_HOST="mail.internal")) is None


def test_starttls_on_the_submission_port_by_default() -> None:
    config = SmtpConfig.from_settings(worker(**MAIL))
    assert config is not None
    assert (config.host, config.port, config.security) == ("mail.internal", 587, "starttls")
    assert config.timeout == dt.timedelta(seconds=30)
    assert (config.username, config.password, config.ca_file) == (None, None, None)


def test_implicit_tls_defaults_to_port_465_and_a_set_port_wins() -> None:
    config = SmtpConfig.from_settings(worker(**MAIL, ACTION_LINKS_SMTP_SECURITY="TLS"))
    assert config is not None and (config.security, config.port) == ("tls", 465)
    config = SmtpConfig.from_settings(
        worker(**MAIL, ACTION_LINKS_SMTP_SECURITY="tls", ACTION_LINKS_SMTP_PORT="2465")
    )
    assert config is not None and config.port == 2465


def test_the_password_may_come_from_a_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("pa55 word\n")
    settings = worker(
        **MAIL,
        ACTION_LINKS_SMTP_USERNAME="mailer",
        ACTION_LINKS_SMTP_PASSWORD_FILE=str(secret),
    )
    config = SmtpConfig.from_settings(settings)
    assert config is not None and (config.username, config.password) == ("mailer", "pa55 word")
    assert "pa55" not in repr(settings) and "pa55" not in repr(config)


def test_password_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("x")
    with pytest.raises(SettingsError, match="set only one of them"):
        worker(ACTION_LINKS_SMTP_PASSWORD="y", ACTION_LINKS_SMTP_PASSWORD_FILE=str(secret))


def test_an_unknown_security_is_named() -> None:
    with pytest.raises(SettingsError, match="ACTION_LINKS_SMTP_SECURITY: 'ssl' must be one of"):
        worker(ACTION_LINKS_SMTP_SECURITY="ssl")
