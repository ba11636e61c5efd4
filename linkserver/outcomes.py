"""What one delivery attempt found out: plain values the engine client returns and the retry
rules read, so the pure rules need not import the HTTP client."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CorrelationResult(enum.StrEnum):
    DELIVERED = "delivered"
    NO_MATCH = "no_match"  # nothing waits for this message (not yet, or no longer)
    AMBIGUOUS = "ambiguous"  # more than one execution waits for it
    UNREACHABLE = "unreachable"  # refused, timed out, 5xx
    REJECTED = "rejected"  # 401, 403, 404, ...: auth, a misconfigured engine; try again later
    REFUSED = "refused"  # the engine processed it and can never accept it as it is


class Visibility(enum.StrEnum):
    """What the engine shows the link server of a process instance."""

    RUNNING = "running"  # runtime or history shows it running
    ENDED = "ended"  # the history says it completed or was terminated: positive evidence
    INVISIBLE = "invisible"  # neither runtime nor history shows it: permissions, tenants, URL
    UNKNOWN = "unknown"  # the engine did not answer usefully


@dataclass(frozen=True)
class Attempt:
    result: CorrelationResult
    detail: str = ""
    # The request left and no answer came back (timeout, dropped connection): the engine
    # may still be working on it, so the next look must wait until it has surely finished.
    maybe_arrived: bool = False
