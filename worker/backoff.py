"""How long the loop waits after the engine failed: arithmetic only, the loop sleeps."""

from __future__ import annotations

BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
JITTER_RATIO = 0.25  # spreads many workers that lost the same engine at the same moment


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
    # The exponent is capped too, so a long outage cannot overflow the float.
    exponential = base_s * 2.0 ** min(failures - 1, 32)
    return min(cap_s, exponential * (1.0 + JITTER_RATIO * min(max(jitter, 0.0), 1.0)))
