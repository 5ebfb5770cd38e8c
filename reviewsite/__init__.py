# Load the Celery app whenever Django starts, so that tasks enqueued from web processes and
# management commands use the project's broker settings.
from reviewsite.celery import app as celery_app

__all__ = ("celery_app",)
