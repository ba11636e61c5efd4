"""The ``action-links`` command: ``worker``, ``serve``, ``reap``, ``migrate`` and the operator's
``links`` and ``answers``.

This is the composition root of each process: it reads the settings once and hands them
to the daemon it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import sys
from typing import Any

import actionlinks_migrate
import actionlinks_ops
from actionlinks_logging import JsonFormatter
from linkserver.settings import VARIABLES as LINK_SERVER_VARIABLES
from linkserver.settings import LinkServerSettings
from tokenstore import settings as tokenstore_settings
from tokenstore.errors import StoreUnavailable
from tokenstore.exitcodes import EXIT_CODES_HELP, ExitCode
from tokenstore.settings import (
    FILE_SUFFIX,
    DatabaseSettings,
    ReaperSettings,
    Settings,
    SettingsError,
    log_format,
    unknown_variables,
    variables_for,
)
from worker.settings import VARIABLES as WORKER_VARIABLES
from worker.settings import WorkerSettings

# Every variable the product reads, from the tables beside the settings objects: it drives the
# unknown-variable warning and each command's ``--help``.
VARIABLES = (*tokenstore_settings.VARIABLES, *WORKER_VARIABLES, *LINK_SERVER_VARIABLES)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
log = logging.getLogger("actionlinks_cli")

# Attributes every LogRecord has; anything else came in through ``extra=`` and is shown.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    """The message, then the structured fields (``action=…``, ids) as ``key=value`` pairs."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
        if not fields:
            return line
        return line + " " + " ".join(f"{k}={v}" for k, v in sorted(fields.items()))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="action-links",
        description="One-time action links for Camunda 7 processes.",
        epilog=EXIT_CODES_HELP + ". Each command's --help lists the variables it reads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO")
    # Accepted after the subcommand too; SUPPRESS keeps the main parser's value when absent.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level", type=str.upper, choices=LOG_LEVELS, default=argparse.SUPPRESS
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check_help = (
        "only check the database, the engine and the engine user's permissions, then exit: "
        "0 all pass, 1 refused (credentials or a permission), 2 bad settings, "
        "3 database unreachable, 4 engine unreachable"
    )
    worker = commands.add_parser(
        "worker",
        help="serve the issue-token and revoke-tokens topics",
        **_subcommand("worker", common),
    )
    worker.add_argument("--check", action="store_true", help=check_help)
    serve = commands.add_parser("serve", help="run the link server", **_subcommand("serve", common))
    serve.add_argument("--check", action="store_true", help=check_help)
    serve.add_argument(
        "--processes",
        type=_positive,
        default=None,
        metavar="N",
        help="link-server processes sharing the port (SO_REUSEPORT); default: one per CPU",
    )
    commands.add_parser(
        "reap", help="expire and delete old links once, then exit", **_subcommand("reap", common)
    )
    actionlinks_migrate.add_parser(commands, **_subcommand("migrate", common))
    actionlinks_ops.add_parsers(commands, **_subcommand("links", common))
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _subcommand(command: str, common: argparse.ArgumentParser) -> dict[str, Any]:
    """What every subcommand's parser shares: ``--log-level`` and its environment in --help."""
    return {
        "parents": [common],
        "epilog": env_help(command),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def env_help(command: str) -> str:
    """The environment variables ``command`` reads, for its ``--help``."""
    variables = variables_for(command, VARIABLES)
    width = max(len(v.env_name) for v in variables) + 2
    lines = [
        f"  {v.env_name:<{width}}{v.meaning}"
        + (f" (or {v.env_name}{FILE_SUFFIX}: a file holding it)" if v.secret else "")
        for v in variables
    ]
    return "environment variables read:\n" + "\n".join(lines) + "\n\n" + EXIT_CODES_HELP


def _version() -> str:
    try:
        return importlib.metadata.version("camunda-action-links")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _run_database_command(args: argparse.Namespace) -> int:
    """The commands that need Postgres only, not the signing keys or the engine."""
    try:
        database = DatabaseSettings.from_env()
    except SettingsError as exc:
        print(f"action-links: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    if args.command == "migrate":
        return actionlinks_migrate.run(args, database)
    return actionlinks_ops.run(args, database)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except StoreUnavailable as exc:
        if not exc.transient:
            raise
        # One line, not a traceback: the usual causes are a wrong URL or a stopped server.
        print(f"action-links: cannot reach the database: {exc.reason}", file=sys.stderr)
        return ExitCode.DATABASE_UNREACHABLE


def _dispatch(args: argparse.Namespace) -> int:
    try:
        json_logs = log_format() == "json"
    except SettingsError as exc:
        print(f"action-links: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    logging.basicConfig(level=args.log_level, handlers=[handler])
    # Every engine request at INFO drowns what the daemons themselves say.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    for name in unknown_variables(VARIABLES):
        # A typo such as ACTION_LINKS_LOCK_DURATON would otherwise pass silently.
        log.warning(
            "%s is not a setting of action-links; ignored (a typo?)",
            name,
            extra={"action": "unknown_setting", "variable": name},
        )
    if args.command in ("migrate", "links", "answers"):
        return _run_database_command(args)
    try:
        # Each process builds its settings here and hands them to what it starts.
        if args.command == "worker":
            worker = WorkerSettings.from_env()
        elif args.command == "serve":
            link_server = LinkServerSettings.from_env()
        else:
            settings, reaper = Settings.from_env(), ReaperSettings.from_env()
    except SettingsError as exc:
        print(f"action-links: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    if args.command == "worker":
        from worker import preflight
        from worker.daemon import run_worker

        if args.check:
            return asyncio.run(preflight.check_command(worker.shared))
        return asyncio.run(run_worker(worker))
    if args.command == "serve":
        from linkserver import preflight as link_preflight
        from linkserver.app import run_server
        from linkserver.processes import default_processes, serve

        if args.check:
            return asyncio.run(link_preflight.check_command(link_server.shared))
        return serve(link_server, args.processes or default_processes(), run_server)
    from tokenstore.reaper import reap_once

    return asyncio.run(reap_once(settings, reaper))


if __name__ == "__main__":
    sys.exit(main())
