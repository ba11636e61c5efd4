"""The ``action-links`` command: ``worker``, ``serve`` and ``reap``.

This is the composition root of each process: it reads the settings once and hands them
to the daemon it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from tokenstore.settings import Settings, SettingsError

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
        prog="action-links", description="One-time action links for Camunda 7 processes."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)
    check_help = (
        "only check the database, the engine and the engine user's permissions, then exit: "
        "0 all pass, 1 refused (credentials or a permission), 3 engine unreachable, "
        "4 database unreachable"
    )
    worker = commands.add_parser("worker", help="serve the issue-token and revoke-tokens topics")
    worker.add_argument("--check", action="store_true", help=check_help)
    serve = commands.add_parser("serve", help="run the link server")
    serve.add_argument("--check", action="store_true", help=check_help)
    commands.add_parser("reap", help="expire and delete old links once, then exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    # Every engine request at INFO drowns what the daemons themselves say.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"action-links: {exc}", file=sys.stderr)
        return 2
    if args.command == "worker":
        from worker import preflight
        from worker.daemon import run_worker

        if args.check:
            return asyncio.run(preflight.check_command(settings))
        return asyncio.run(run_worker(settings))
    if args.command == "serve":
        from linkserver import preflight as link_preflight
        from linkserver.app import run_server

        if args.check:
            return asyncio.run(link_preflight.check_command(settings))
        return asyncio.run(run_server(settings))
    from tokenstore.reaper import reap_once

    return asyncio.run(reap_once(settings))


if __name__ == "__main__":
    sys.exit(main())
