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
