"""How long to wait before trying again: arithmetic only, the loops sleep (stamina's
``_compute_backoff``). The worker's fetch loop, the link server's delivery retries and its
delivery loop all double a base delay up to a cap, here."""

from __future__ import annotations

import math

# The worker's fetch loop, after the engine failed.
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
JITTER_RATIO = 0.25  # spreads many workers that lost the same engine at the same moment
# The exponent is capped too, so a long outage cannot overflow the float.
MAX_EXPONENT = 32


def exponential_s(
    step: int, base_s: float, cap_s: float = math.inf, max_exponent: int = MAX_EXPONENT
) -> float:
    """``base_s`` doubled ``step`` times (the exponent at most ``max_exponent``), at most
    ``cap_s``."""
    return min(cap_s, base_s * 2.0 ** min(step, max_exponent))


def backoff_delay(
    failures: int,
    jitter: float = 0.0,
    base_s: float = BASE_DELAY_S,
    cap_s: float = MAX_DELAY_S,
) -> float:
    """Seconds to wait after ``failures`` failures in a row (0 when there were none).

    ``jitter`` is a number in [0, 1) the caller draws; it lengthens the delay by up to
    JITTER_RATIO, and the cap still holds.
    """
    if failures <= 0:
        return 0.0
    exponential = exponential_s(failures - 1, base_s)
    return min(cap_s, exponential * (1.0 + JITTER_RATIO * min(max(jitter, 0.0), 1.0)))
