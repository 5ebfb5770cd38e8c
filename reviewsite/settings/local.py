"""Local development and the embedded default (``./dev start``)."""
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-development-only-not-a-secret")
os.environ.setdefault("DJANGO_DEBUG", "true")

from reviewsite.settings.base import *  # noqa: E402,F403

# Static files straight from the apps (no collectstatic needed outside production).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
