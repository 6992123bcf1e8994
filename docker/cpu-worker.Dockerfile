# CPU worker: decodes image files into shards in Redis (queue "cpu").
# Flower runs from this image too (docker-compose.yml gives it its own command).
#
# Build context: the repository root. From docker/docker-compose.yml:
#   build: {context: .., dockerfile: docker/cpu-worker.Dockerfile}
# or by hand, from the repository root:
#   docker build -f docker/cpu-worker.Dockerfile -t catdog-cpu-worker .
# cpu-worker.Dockerfile.dockerignore (beside this file; BuildKit reads it instead of
# a .dockerignore at the root) sends only the files copied below.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

# TensorFlow is left out: only the gpu worker imports it (workers/gpu.py imports
# Keras lazily, inside the gpu tasks), and it is most of the size of the image.
# Everything else in requirements.txt is installed at its pinned version.
COPY requirements.txt /tmp/requirements.txt
RUN grep -v -E '^tensorflow([^a-zA-Z0-9_.-]|$)' /tmp/requirements.txt > /tmp/requirements-cpu.txt \
    && pip install --no-cache-dir -r /tmp/requirements-cpu.txt \
    && rm -rf /tmp/requirements.txt /tmp/requirements-cpu.txt /root/.cache

# An unprivileged user; the image data mounted at /data must be readable by it.
ARG APP_UID=10001
RUN useradd --create-home --uid "${APP_UID}" --user-group --shell /usr/sbin/nologin catdog

WORKDIR /app
COPY celeryconfig.py ./
COPY shared/ shared/
COPY workers/ workers/
COPY jobs/ jobs/
COPY training/ training/

USER catdog

# Prefork pool, one process per available core unless --concurrency says otherwise.
CMD ["celery", "-A", "workers.app", "worker", "-Q", "cpu", "--loglevel", "INFO"]
