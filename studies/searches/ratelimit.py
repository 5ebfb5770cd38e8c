"""A request rate shared by every worker: at most ``limit`` requests to a service in any window.

Kept in Redis as a sorted set of the times requests were let through, read and written by one Lua
script (atomic on the server, and on the server's clock, so workers on several machines agree). A
sliding window, not per-second buckets: "no more than 3 requests in any second" holds for every
second, including one that straddles two buckets.
"""
from dataclasses import dataclass
import time
import uuid

from django.conf import settings
import redis

# Returns 0 when the request may go now (and records it), else microseconds until the oldest
# request in the window leaves it.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return _clients[url]


class RateLimiterUnavailable(Exception):
    """Redis, which holds the shared rate, does not answer."""


@dataclass(frozen=True)
class RateLimit:
    """``limit`` requests per ``seconds`` for everyone sharing ``key``."""

    key: str
    limit: int
    seconds: float = 1.0

    def acquire(self, *, deadline: float | None = None) -> None:
        """Wait until a request may go, and count it. ``deadline`` (a ``time.monotonic()``) caps the wait."""
        # The window is a little longer than asked: a request is counted when it is let through, and
        # reaches the service a few milliseconds later, by a path whose delay varies.
        window_us = int((self.seconds + settings.SEARCH_RATE_MARGIN_SECONDS) * 1_000_000)
        full_key = f"{settings.SEARCH_RATE_KEY_PREFIX}:{self.key}"
        member = uuid.uuid4().hex
        while True:
            try:
                wait_us = int(_redis().eval(_ACQUIRE, 1, full_key, self.limit, window_us, member))
            except redis.RedisError as error:
                raise RateLimiterUnavailable(f"the shared rate limit in Redis is unavailable ({error})") from error
            if wait_us <= 0:
                return
            if deadline is not None and time.monotonic() + wait_us / 1e6 > deadline:
                raise RateLimiterUnavailable("waited too long for a turn under the shared rate limit")
            time.sleep(wait_us / 1_000_000)
