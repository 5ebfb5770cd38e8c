# The production image: gunicorn for the web, the same image for the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=reviewsite.settings.production

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --system --home /app reviewsite \
    && DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/media /app/.data && chown -R reviewsite /app/media /app/.data
USER reviewsite

EXPOSE 8000
# gunicorn as reviewsite/gunicorn_conf.py says (sync workers, one per processor and one more;
# set WEB_CONCURRENCY to choose), on port 8000, access log on standard output.
CMD ["gunicorn", "--config", "reviewsite/gunicorn_conf.py"]
