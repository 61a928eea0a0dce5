# Baton: one image for the web processes (Daphne), the Celery workers (the reports one too)
# and Celery beat.
FROM python:3.11-slim

# PYTHONPATH: settings.py finds templates/, static/ and locale/ next to config/, so import
# the project from /app, not from the copy that `pip install .` puts in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    BATON_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    STATIC_MANIFEST=1 \
    MEDIA_ROOT=/app/media \
    REPORTS_ROOT=/app/reports \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system baton \
    && useradd --system --gid baton --home-dir /app --no-create-home --shell /usr/sbin/nologin baton

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not download them again.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install . && rm -rf build ./*.egg-info

# Hashed, compressed static files for WhiteNoise (STATIC_MANIFEST=1 above). The secret key
# is a throwaway that exists only for this command.
# /app/media and /app/reports exist, owned by baton, so the volumes docker-compose.yml
# mounts there start out writable by it.
RUN mkdir -p /app/var /app/media /app/reports /app/staticfiles \
    && SECRET_KEY=collectstatic-only-not-secret python manage.py collectstatic --noinput \
    && chown -R baton:baton /app/var /app/media /app/reports

USER baton

EXPOSE 8000

# The Host header is the first ALLOWED_HOSTS entry so that Django does not answer 400.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.').replace('*', 'localhost') or 'localhost'; u.urlopen(u.Request('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', headers={'Host': h}), timeout=4)"]

# WEB_CONCURRENCY Daphne processes (default: one per CPU the container sees -- set it when
# the container is limited to fewer) share HOST:PORT, a socket each opened by the runner,
# which restarts one that dies and stops them all on SIGTERM (config/runner.py).
CMD ["python", "-m", "config.runner", "web"]
