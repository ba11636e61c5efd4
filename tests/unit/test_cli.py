"""The ``action-links`` command line itself: version, log levels, help, warnings, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actionlinks_cli import VARIABLES
from devstack import ROOT
from devstack.ports import free_port
from tests.support.keys import SIGNING_KEYS
from tokenstore.settings import FILE_SUFFIX, variables_for

COMMANDS = ["worker", "serve", "reap", "migrate"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionlinks_cli", *args],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def test_version() -> None:
    result = _cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "action-links 0.1.0"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_lists_the_variables_it_reads(command: str) -> None:
    result = _cli(command, "--help")
    assert result.returncode == 0, result.stderr
    for variable in variables_for(command, VARIABLES):
        assert variable.env_name in result.stdout
        if variable.secret:
            assert variable.env_name + FILE_SUFFIX in result.stdout
    assert "3 database unreachable" in result.stdout


def test_serve_help_does_not_list_worker_settings() -> None:
    text = _cli("serve", "--help").stdout
    assert "ACTION_LINKS_LISTEN" in text and "ACTION_LINKS_LOCK_DURATION" not in text


@pytest.mark.parametrize(
    "args", [["--log-level", "debug", "reap"], ["reap", "--log-level", "WARNING"]]
)
def test_log_level_before_or_after_the_subcommand(args: list[str]) -> None:
    # reap without signing keys stops at the configuration, after parsing the arguments.
    result = _cli(*args, ACTION_LINKS_DATABASE_URL="postgresql://x@127.0.0.1:1/db")
    assert result.returncode == 2
    assert "ACTION_LINKS_SIGNING_KEYS is required" in result.stderr


@pytest.mark.parametrize("args", [["--log-level", "LOUD", "reap"], ["reap", "--log-level", "5"]])
def test_log_level_is_limited_to_real_levels(args: list[str]) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_each_unknown_variable_is_one_warning_and_test_ones_are_silent() -> None:
    result = _cli(
        "reap",
        ACTION_LINKS_LOCK_DURATON="PT1M",
        ACTION_LINKS_PUBLICURL="x",
        ACTION_LINKS_TEST_WHATEVER="1",
        ACTION_LINKS_DATABASE_URL="postgresql://x@127.0.0.1:1/db",
    )
    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 2, result.stderr
    assert "ACTION_LINKS_LOCK_DURATON" in warnings[0] and "action=unknown_setting" in warnings[0]
    assert "ACTION_LINKS_PUBLICURL" in warnings[1]
    assert "TEST_WHATEVER" not in result.stderr


def test_both_a_secret_and_its_file_is_exit_2_naming_both() -> None:
    result = _cli(
        "migrate",
        "current",
        ACTION_LINKS_DATABASE_URL="postgresql://x@127.0.0.1:1/db",
        ACTION_LINKS_DATABASE_URL_FILE="/dev/null",
    )
    assert result.returncode == 2
    assert "ACTION_LINKS_DATABASE_URL and ACTION_LINKS_DATABASE_URL_FILE" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["links", "list"],
        ["answers", "list", "--state", "undeliverable"],
        ["migrate", "current"],
        ["reap"],
    ],
)
def test_an_unreachable_database_is_one_line_and_exit_3(args: list[str]) -> None:
    result = _cli(
        *args,
        ACTION_LINKS_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/nowhere",
        ACTION_LINKS_SIGNING_KEYS=SIGNING_KEYS,
    )
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("action-links: cannot reach the database")


@pytest.mark.parametrize(
    "args",
    [
        ["links", "revoke", "--reason", "x"],  # which links?
        ["links", "revoke", "--process-instance", "p"],  # no reason
        ["links", "list", "--group", "nope"],
        ["links", "list", "--expiring-before", "tomorrow"],
        ["answers", "retry", "12"],
        ["answers", "list", "--state", "delivered"],
    ],
)
def test_operator_usage_errors_are_exit_2(args: list[str]) -> None:
    result = _cli(*args, ACTION_LINKS_DATABASE_URL="postgresql://x@127.0.0.1:1/db")
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_links_show_of_garbage_is_a_usage_error_before_any_query() -> None:
    result = _cli(
        "links", "show", "hello", ACTION_LINKS_DATABASE_URL="postgresql://x@127.0.0.1:1/d"
    )
    assert result.returncode == 2
    assert "neither a link id nor a token" in result.stderr
