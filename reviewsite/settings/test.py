"""The test suite: the machine's PostgreSQL and Redis (or private ones started by ``./dev test``)."""
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-a-secret")

from reviewsite.settings.base import *  # noqa: E402,F403

# Fast hashing keeps user fixtures cheap; production keeps Argon2.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files straight from the apps (no collectstatic needed outside production).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Each test starts from an empty cache, and clearing a Redis cache empties its whole database,
# which other test runs on the machine's Redis (and their Celery queues) share: tests keep the
# shared cache in memory. Production's Redis cache is the same Django API.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages"},
}
