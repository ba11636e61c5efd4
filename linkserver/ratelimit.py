"""Failed look-ups per client address, limited by a token bucket, so guessing is slow."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

MAX_CLIENTS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class FailureLimiter:
    """A token bucket per client address; each failed look-up takes one token.

    Memory is bounded: the least recently seen address is forgotten first, and a forgotten
    address starts with a full bucket, which costs a guesser no more than the burst.
    """

    def __init__(self, burst: int, per_minute: int, max_clients: int = MAX_CLIENTS) -> None:
        self.burst = burst
        self.rate_per_s = per_minute / 60
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, client: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens >= self.burst:
            del self._buckets[client]  # a full bucket is the same as none
            return None
        self._buckets.move_to_end(client)
        return bucket

    def check(self, client: str, now: float) -> Verdict:
        """May this client look a token up now?"""
        bucket = self._refilled(client, now)
        if bucket is None or bucket.tokens >= 1:
            return Verdict(True)
        return Verdict(False, max(1, math.ceil((1 - bucket.tokens) / self.rate_per_s)))

    def failed(self, client: str, now: float) -> None:
        bucket = self._refilled(client, now) or _Bucket(float(self.burst), now)
        bucket.tokens = max(0.0, bucket.tokens - 1)
        self._buckets[client] = bucket
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
