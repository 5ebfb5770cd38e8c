"""Settings shared by every environment. Everything that differs between machines comes from the
environment (cookiecutter-django style); ``local``, ``test`` and ``production`` only override."""
from pathlib import Path
import os

from datetime import timedelta

from csp.constants import NONE, SELF
import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str | None = None) -> str:
    """Read a required setting from the environment; a missing one is a configuration error."""
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return value


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # The audit trail: row events written by database triggers (studies/models/audit.py).
    "pgtrigger",
    "pghistory",
    "studies",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
    # Who and which URL, attached to every audit event a request causes (DRF's token user too:
    # the middleware updates the context when DRF sets request.user).
    "pghistory.middleware.HistoryMiddleware",
]
# The audit trail names who made each change; reads change nothing (GET is safe throughout), so
# they skip pghistory's per-query context, which would cost every reader page a statement.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

ROOT_URLCONF = "reviewsite.urls"
WSGI_APPLICATION = "reviewsite.wsgi.application"
ASGI_APPLICATION = "reviewsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only: the schema relies on its check constraints, partial unique indexes and arrays.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reviewsite"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# PostgreSQL's JIT compiles any query the planner thinks costly (the blinded decision lists' EXISTS
# filters) before running it, on every execution: about 80 ms of compiling for 15 ms of work.
# This site's queries are short; off for its connections.
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"]["options"] = " ".join(
    filter(None, [DATABASES["default"]["OPTIONS"].get("options"), "-c jit=off"]))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login throttling (django-axes): five failed attempts for one username from one address lock that
# pair out for a cool-off period, then it may try again. Keyed on the pair, so an attacker elsewhere
# cannot lock a user out, and a shared office address does not lock out its other users.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Content-Security-Policy (django-csp): pages load scripts, styles and images from this site only
# (no CDN, no inline script or style); figures are inline SVG, and PNG downloads are drawn through
# blob: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))

LOGIN_URL = "login"  # the team's sign-in page; the back office keeps its own
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Redis is the Celery broker only: the database is the ledger of what must be computed, so a lost
# message delays results but never leaves them wrong (see DESIGN.md, "Living analysis").
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# The shared cache (screening progress counts, anything several web processes should compute once)
# lives in Redis; rendered reader pages are kept in each process's memory ("pages"): their keys
# name the data version they show, so a process can never serve a stale one, and a hit costs no
# network round trip.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "reviewsite",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    },
    "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 2000}},
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above the task time limit, so a slow task is not redelivered while it still runs.
    "visibility_timeout": 600,
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
}
# Successive recomputes of one review start at least this far apart, the gap doubling (up to the
# maximum) while edits keep arriving, so bursts coalesce into a few runs.
ANALYSIS_COALESCE_SECONDS = float(os.environ.get("ANALYSIS_COALESCE_SECONDS", "0.4"))
ANALYSIS_COALESCE_MAX_SECONDS = float(os.environ.get("ANALYSIS_COALESCE_MAX_SECONDS", "8"))
# The reconciler: recompute any review whose results are behind its data (a lost message, a dead
# worker or a broker outage only delays results).
CELERY_BEAT_SCHEDULE = {
    "reconcile-analyses": {
        "task": "analysis.tasks.reconcile_reviews",
        "schedule": float(os.environ.get("RECONCILE_INTERVAL_SECONDS", "30")),
    },
    # Releases a manager scheduled ("every N days, if the data changed"): checked hourly.
    "cut-scheduled-releases": {
        "task": "analysis.tasks.cut_scheduled_releases",
        "schedule": float(os.environ.get("RELEASE_SCHEDULE_CHECK_SECONDS", "3600")),
    },
}
# Living searches (issue 21): each service's base URL (a self-hosted mirror, or a test's stand-in).
PUBMED_EUTILS_URL = os.environ.get("PUBMED_EUTILS_URL", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils")
EUROPEPMC_URL = os.environ.get("EUROPEPMC_URL", "https://www.ebi.ac.uk/europepmc/webservices/rest")
CTGOV_URL = os.environ.get("CTGOV_URL", "https://clinicaltrials.gov/api/v2")
OPENALEX_URL = os.environ.get("OPENALEX_URL", "https://api.openalex.org")
CROSSREF_URL = os.environ.get("CROSSREF_URL", "https://api.crossref.org")
# NCBI allows 3 requests a second without a key, 10 with one.
NCBI_API_KEY = os.environ.get("NCBI_API_KEY", "")
# Who is asking: E-utilities' ``tool``/``email``, OpenAlex's and Crossref's ``mailto`` (their polite pools).
SEARCH_TOOL_NAME = os.environ.get("SEARCH_TOOL_NAME", "living-review")
SEARCH_CONTACT_EMAIL = os.environ.get("SEARCH_CONTACT_EMAIL", os.environ.get("DJANGO_DEFAULT_FROM_EMAIL",
                                                                             "reviews@localhost"))
SEARCH_HTTP_TIMEOUT_SECONDS = float(os.environ.get("SEARCH_HTTP_TIMEOUT_SECONDS", "30"))
SEARCH_MAX_RETRIES = int(os.environ.get("SEARCH_MAX_RETRIES", "5"))
SEARCH_RETRY_BASE_SECONDS = float(os.environ.get("SEARCH_RETRY_BASE_SECONDS", "1"))
# A Retry-After longer than this fails the run (the next one tries again) rather than hold a worker.
SEARCH_RETRY_MAX_WAIT_SECONDS = float(os.environ.get("SEARCH_RETRY_MAX_WAIT_SECONDS", "120"))
SEARCH_RATE_KEY_PREFIX = os.environ.get("SEARCH_RATE_KEY_PREFIX", "reviewsite:search-rate")
# The shared limit counts over a window this much longer than the service's (clock granularity, safety).
SEARCH_RATE_MARGIN_SECONDS = float(os.environ.get("SEARCH_RATE_MARGIN_SECONDS", "0.05"))
# Each run searches from the last successful window's end minus this many days (entry dates lag).
SEARCH_OVERLAP_DAYS = int(os.environ.get("SEARCH_OVERLAP_DAYS", "2"))
# A run still "running" after this long is failed (its worker died) and the search retried later.
SEARCH_RUN_TIMEOUT_MINUTES = int(os.environ.get("SEARCH_RUN_TIMEOUT_MINUTES", "60"))
# After a failed run the schedule tries again after this many hours, doubling per failure (up to the
# search's own interval).
SEARCH_FAILURE_RETRY_HOURS = float(os.environ.get("SEARCH_FAILURE_RETRY_HOURS", "1"))
CELERY_BEAT_SCHEDULE["run-due-searches"] = {
    "task": "studies.tasks.searches_schedule",
    "schedule": float(os.environ.get("SEARCH_SCHEDULE_INTERVAL_SECONDS", "300")),
}

# The site's public address (e.g. https://reviews.example.org), for absolute URLs where no request
# gives one: release URLs printed by `release_create`, citations, the R scripts kept in releases.
SITE_URL = env("SITE_URL", "")
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME", str(BASE_DIR / ".data" / "celerybeat-schedule"))

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "reviews@localhost")
EMAIL_TIMEOUT = 10
# Where the file backend writes each message (the embedded default uses it: `./dev start` says where).
EMAIL_FILE_PATH = os.environ.get("DJANGO_EMAIL_FILE_PATH", str(BASE_DIR / ".data" / "mail"))

# Password-reset requests (issue 18), throttled like sign-in: at most this many per e-mail address
# and per client address within the window; more answer 429 until the window has passed.
PASSWORD_RESET_LIMIT = int(os.environ.get("PASSWORD_RESET_LIMIT", "5"))
PASSWORD_RESET_WINDOW_MINUTES = int(os.environ.get("PASSWORD_RESET_WINDOW_MINUTES", "60"))

REST_FRAMEWORK = {
    # Deny by default: an endpoint that does not name its own permissions needs a login, and the
    # review endpoints decide by the user's roles in the review (studies/api/access.py).
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Token first: its WWW-Authenticate header turns a missing or bad login into 401, not 403.
    # DRF's token check with its statement built once (reviewsite/authentication.py): the token is
    # still read on every request, so a deleted one stops working at once.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reviewsite.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Living systematic review API",
    "DESCRIPTION": "Reviews, their team, searches and imports, records, screening, studies, outcome data, "
                   "risk of bias and the living analysis. Roles per review decide what each user may read "
                   "and write; a review you may not see answers 404.",
    "VERSION": "1",
    # Swagger UI from the drf-spectacular-sidecar package, served by this site: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # bibtexparser logs each entry it cannot read (with its text) and its advice to continue; the
    # import already names that entry in a warning to the person importing, so the worker's log
    # would only repeat it, once per malformed entry of every file.
    "loggers": {"bibtexparser": {"level": "ERROR"}},
}

# Screening (issue 7): the largest full-text PDF a screener may upload, in bytes.
SCREENING_PDF_MAX_BYTES = int(os.environ.get("SCREENING_PDF_MAX_BYTES", str(25 * 1024 * 1024)))
