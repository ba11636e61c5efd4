"""Say a recurring thing once per interval, with how often it happened in between."""

from __future__ import annotations


class LogThrottle:
    """Per key: the first event logs, later ones within the interval are only counted."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def due(self, key: str, now: float) -> int | None:
        """The count suppressed since the last report if this event should be logged, else None."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)
