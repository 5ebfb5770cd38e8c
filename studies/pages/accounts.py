"""Accounts (issue 18): Django's own password-reset views, throttled like sign-in.

Sign-in is throttled by django-axes (failures per username and address). A reset request is not a
failure of anything, so it is counted here instead: at most ``PASSWORD_RESET_LIMIT`` requests per
e-mail address and per client address within ``PASSWORD_RESET_WINDOW_MINUTES``, in the shared
cache (Redis in production, so every web process counts together). Requests are counted whether
or not the address has an account, so neither the answer nor the throttle tells anyone who has one.
"""
import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

logger = logging.getLogger(__name__)


def _count(key: str, window: int) -> tuple[int, float]:
    """Count one request under ``key``: (requests in the current window, when the window ends)."""
    cache.add(f"{key}:start", time.time(), timeout=window)
    cache.add(f"{key}:n", 0, timeout=window)
    count = cache.incr(f"{key}:n")
    started = cache.get(f"{key}:start") or time.time()
    return count, started + window


def password_reset_retry_at(*, email: str, client: str | None) -> datetime | None:
    """Count a reset request for ``email`` from ``client``; when either is over the limit, the time
    from which it may ask again, else ``None``. With the cache unreachable nothing is throttled (a
    Redis outage must not stop people resetting their password; sign-in throttling still holds)."""
    window = settings.PASSWORD_RESET_WINDOW_MINUTES * 60
    address = hashlib.sha256(email.strip().lower().encode()).hexdigest()  # no address in the cache in clear
    retry_at = None
    try:
        for key in (f"password-reset:email:{address}", f"password-reset:client:{client or 'unknown'}"):
            count, window_end = _count(key, window)
            if count > settings.PASSWORD_RESET_LIMIT:
                retry_at = max(retry_at or 0, window_end)
    except Exception as failure:  # noqa: BLE001 -- any cache failure: do not throttle, say so in the log
        logger.warning("Password-reset throttle skipped: cache unreachable (%s)", failure.__class__.__name__)
        return None
    return None if retry_at is None else datetime.fromtimestamp(retry_at, tz=UTC)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, counted per address and client before any mail goes out."""

    def form_valid(self, form) -> HttpResponse:
        retry_at = password_reset_retry_at(email=form.cleaned_data["email"],
                                           client=get_client_ip_address(self.request))
        if retry_at is not None:
            minutes = max(1, round((retry_at - timezone.now()) / timedelta(minutes=1)))
            response = render(self.request, "registration/password_reset_throttled.html",
                              {"retry_at": retry_at, "minutes": minutes}, status=429)
            response["Retry-After"] = str(minutes * 60)
            return response
        return super().form_valid(form)
