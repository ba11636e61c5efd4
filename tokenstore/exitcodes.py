"""What every ``action-links`` command exits with: one table for the CLI, ``--check`` and docs."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Higher is worse; where several findings apply (``--check``), the highest wins."""

    OK = 0
    # Not found, nothing matched, drift found, or the engine refused (credentials, permission).
    REFUSED = 1
    CONFIG = 2  # usage or configuration error
    DATABASE_UNREACHABLE = 3
    ENGINE_UNREACHABLE = 4


EXIT_CODES_HELP = (
    "exit codes: 0 ok, 1 not found, nothing matched or refused, 2 usage or configuration "
    "error, 3 database unreachable, 4 engine unreachable"
)
