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

# Each request is an entry of the sorted set, scored by when it counts. While it is in flight its score
# lies in the future (it counts, and cannot leave the window); when its answer has come back, the score
# becomes that moment, which is after the service received it, whatever the network's delays. A new
# request goes only once fewer than ``limit`` entries fall within the window before now, so it reaches
# the service at least a window after the answer to the request ``limit`` places before it: no window
# of the service's clock ever holds more than ``limit`` arrivals.
#
# Returns 0 when the request may go now (and records it as in flight), else microseconds to wait.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + tonumber(ARGV[4])) / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
# The request's answer came back: it counts from now on (XX: only if it is still there).
_RELEASE = """
local now_parts = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2]), ARGV[1])
return 0
"""
# While every entry is in flight, the wait is unknown: look again this often.
_POLL_SECONDS = 0.05

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

    def _key(self) -> str:
        return f"{settings.SEARCH_RATE_KEY_PREFIX}:{self.key}"

    def acquire(self, *, deadline: float | None = None) -> str:
        """Wait until a request may go, and count it as in flight; returns its ticket for ``release``.
        ``deadline`` (a ``time.monotonic()``) caps the wait."""
        window_us = int((self.seconds + settings.SEARCH_RATE_MARGIN_SECONDS) * 1_000_000)
        # An entry whose worker died in flight stops counting after the longest a request can take.
        in_flight_us = int((settings.SEARCH_HTTP_TIMEOUT_SECONDS + 5) * 1_000_000)
        ticket = uuid.uuid4().hex
        while True:
            try:
                wait_us = int(_redis().eval(_ACQUIRE, 1, self._key(), self.limit, window_us, ticket, in_flight_us))
            except redis.RedisError as error:
                raise RateLimiterUnavailable(f"the shared rate limit in Redis is unavailable ({error})") from error
            if wait_us <= 0:
                return ticket
            # Beyond a window: the oldest entry is still in flight, and frees its place when it returns.
            wait = _POLL_SECONDS if wait_us > window_us else wait_us / 1_000_000
            if deadline is not None and time.monotonic() + wait > deadline:
                raise RateLimiterUnavailable("waited too long for a turn under the shared rate limit")
            time.sleep(wait)

    def release(self, ticket: str) -> None:
        """The request's answer (or its failure) is back: it counts from now for the next window."""
        try:
            _redis().eval(_RELEASE, 1, self._key(), ticket)
        except redis.RedisError:
            pass  # the in-flight entry then counts until it expires: slower, never faster
