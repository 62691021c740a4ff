"""Rate limits with `limits`: in process memory by default, shared through Redis when set."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import coredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

logger = logging.getLogger(__name__)
# The bucket of authenticated API requests (RATE_LIMIT_API), keyed by Principal.person_key.
API_BUCKET = "api"


@dataclass(frozen=True)
class RateLimitResult:
    """The outcome of one hit: allowed or not, and the numbers for RateLimit-* headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }


def storage_uri(redis_url: str | None) -> str:
    """The `limits` storage URI for REDIS_URL (async Redis) or process memory."""
    if not redis_url:
        return "async+memory://"
    scheme, _, rest = redis_url.partition("://")
    return f"async+{scheme}://{rest}"


@lru_cache(maxsize=64)
def parse_rate(rate: str) -> RateLimitItem:
    """One limit such as "600/minute" or "10 per 2 minutes", as `limits` reads it.

    The settings check RATE_LIMIT_* with this at start-up, so a string the limiter
    cannot use stops the process instead of failing every request. Raises ValueError
    with a message for the operator.
    """
    try:
        items = parse_many(rate)
    except ValueError:
        raise ValueError(
            "is not a rate limit (write it as a count per period, e.g. 600/minute)"
        ) from None
    if len(items) != 1:
        # parse() would keep the first and silently drop the rest.
        raise ValueError("must be one limit, e.g. 600/minute (not several)")
    item = items[0]
    if item.amount < 1:
        raise ValueError("must allow at least one request per period")
    return item


class RateLimiter:
    """Counts hits per key in a sliding window; one instance per application.

    The sliding window counter keeps two counters per key (this window and the last,
    weighted): constant memory and work per hit, in process and on Redis. A moving
    window keeps one timestamp per hit — 600 entries per busy key, scanned on every hit.
    """

    def __init__(self, redis_url: str | None = None, namespace: str = "bo") -> None:
        # With Redis the pool is ours (limits' documented `connection_pool` option), so
        # `close` can release it without reaching into the storage's client.
        self.pool: coredis.ConnectionPool | None = None
        options: dict[str, Any] = {}
        if redis_url:
            self.pool = coredis.ConnectionPool.from_url(redis_url)
            options = {"key_prefix": f"{namespace}-rl", "connection_pool": self.pool}
        storage = storage_from_string(storage_uri(redis_url), **options)
        assert isinstance(storage, Storage)
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def hit(self, rate: str, *key: str) -> RateLimitResult:
        """Count one hit of `key` against `rate` (e.g. "10/minute")."""
        item = parse_rate(rate)
        allowed = await self.strategy.hit(item, *key)
        stats = await self.strategy.get_window_stats(item, *key)
        reset_after = max(0, int(stats.reset_time - time.time()) + 1)
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after=reset_after,
        )

    async def remaining(self, rate: str, *key: str) -> int:
        """Hits `key` has left in the current window, without counting one."""
        stats = await self.strategy.get_window_stats(parse_rate(rate), *key)
        return max(0, stats.remaining)

    async def test(self, rate: str, *key: str) -> bool:
        """Whether a hit would be allowed, without counting one."""
        return await self.strategy.test(parse_rate(rate), *key)

    async def clear(self, rate: str, *key: str) -> None:
        await self.strategy.clear(parse_rate(rate), *key)

    async def close(self) -> None:
        """Release the Redis connections (a no-op for memory storage)."""
        if self.pool is not None:
            self.pool.disconnect()

    async def reset(self) -> None:
        """Forget every counter (tests; an operator after an incident)."""
        await self.storage.reset()
