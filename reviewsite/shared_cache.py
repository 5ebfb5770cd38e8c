"""The cache every web process shares (Redis in production), used only for what can be recomputed:
a Redis outage must slow pages down, never break them (DESIGN.md: the broker is only a doorbell).

``get`` answers ``None`` (a miss) and ``set`` does nothing while the shared cache is unreachable.
After a failure this process leaves the cache alone for ``PAUSE_SECONDS``, so a dead or hung Redis
costs one connection timeout per process every few seconds, not one per request.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import caches

logger = logging.getLogger(__name__)

PAUSE_SECONDS = 5.0
_paused_until = 0.0


def available() -> bool:
    """False while this process is skipping the shared cache after a failure."""
    return time.monotonic() >= _paused_until


def _failed(operation: str, failure: Exception) -> None:
    global _paused_until
    _paused_until = time.monotonic() + PAUSE_SECONDS
    logger.warning("Shared cache unreachable on %s (%s); working without it for %.0f s",
                   operation, failure.__class__.__name__, PAUSE_SECONDS)


def get(key: str) -> Any:
    """The cached value, or ``None`` when it is missing or the cache is unreachable."""
    if not available():
        return None
    try:
        return caches["default"].get(key)
    except Exception as failure:  # noqa: BLE001 -- any cache failure is a miss, by design
        _failed("get", failure)
        return None


def set(key: str, value: Any, timeout: float) -> None:  # noqa: A001 -- the cache API's own name
    """Store a value for ``timeout`` seconds, if the cache is reachable."""
    if not available():
        return
    try:
        caches["default"].set(key, value, timeout=timeout)
    except Exception as failure:  # noqa: BLE001
        _failed("set", failure)
