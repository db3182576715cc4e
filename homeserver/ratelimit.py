"""Token-bucket rate limiting per action and key (an IP address or a user ID).

In-process: each worker limits what it serves. Buckets idle long enough to be full again
are dropped, so memory is bounded by the number of recently active keys."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from homeserver.config import RateLimit, RateLimits
from homeserver.errors import LimitExceeded

MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        # (action, key) -> (tokens, last refill time)
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def check(self, action: str, key: str, *, take: bool = True) -> None:
        """Raise LimitExceeded (with the wait needed) unless the bucket holds a token; take it
        unless `take` is False (to ask before doing work that only costs when it fails)."""
        if not self._limits.enabled:
            return
        limit: RateLimit = getattr(self._limits, action)
        now = self._clock()
        tokens = self._refilled(limit, self._buckets.get((action, key)), now)
        if tokens < 1.0:
            wait_s = (1.0 - tokens) / limit.per_second
            raise LimitExceeded(retry_after_ms=max(1, math.ceil(wait_s * 1000)))
        if take:
            self._store((action, key), tokens - 1.0, now)

    @staticmethod
    def _refilled(limit: RateLimit, bucket: tuple[float, float] | None, now: float) -> float:
        if bucket is None:
            return float(limit.burst)
        tokens, last = bucket
        return min(float(limit.burst), tokens + (now - last) * limit.per_second)

    def _store(self, bucket: tuple[str, str], tokens: float, now: float) -> None:
        self._buckets[bucket] = (tokens, now)
        self._buckets.move_to_end(bucket)
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
