# CPU worker: decodes image files into shards in Redis (queue "cpu").
# Flower, the redis-config step and the client (submit.py, for a machine without a
# checkout) run from this image too: docker-compose.yml gives each its own command.
#
# Build context: the repository root. From docker/docker-compose.yml:
#   build: {context: .., dockerfile: docker/cpu-worker.Dockerfile}
# by hand, from the repository root:
#   docker build -f docker/cpu-worker.Dockerfile -t catdog-queue/cpu-worker .
# or with docker/build-images.sh, which works with any builder and sends only the files
# copied below. cpu-worker.Dockerfile.dockerignore (beside this file; BuildKit reads it
# instead of a .dockerignore at the root) sends only those files too.
#
# BASE_IMAGE: the official python:3.11-slim, or a stand-in with Python 3.11 and pip
# (docker/make-base-images.sh makes one from Debian packages).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

# TensorFlow is left out: only the gpu worker imports it (workers/gpu.py imports
# Keras lazily, inside the gpu tasks), and it is most of the size of the image.
# Everything else in requirements.txt is installed at its pinned version. This layer
# comes before the code, so changing the code does not reinstall anything.
COPY requirements.txt /tmp/requirements.txt
RUN grep -v -E '^tensorflow([^a-zA-Z0-9_.-]|$)' /tmp/requirements.txt > /tmp/requirements-cpu.txt \
    && pip install --no-cache-dir -r /tmp/requirements-cpu.txt \
    && rm -rf /tmp/requirements.txt /tmp/requirements-cpu.txt /root/.cache

# An unprivileged user; the image data mounted at /data must be readable by it.
# /etc/catdog/redis: where the redis-config service writes Redis's config file, and
# /etc/catdog/sentinel-N the sentinels' with docker-compose.ha.yml (a volume mounted
# there starts out owned by this user).
ARG APP_UID=10001
RUN useradd --create-home --uid "${APP_UID}" --user-group --shell /usr/sbin/nologin catdog \
    && mkdir -p /etc/catdog/redis /etc/catdog/sentinel-1 /etc/catdog/sentinel-2 \
        /etc/catdog/sentinel-3 \
    && chown catdog:catdog /etc/catdog/redis /etc/catdog/sentinel-1 /etc/catdog/sentinel-2 \
        /etc/catdog/sentinel-3

WORKDIR /app
COPY celeryconfig.py ./
# catdog_queue/ names the folders beside it catdog_queue.shared, catdog_queue.workers...
COPY catdog_queue/ catdog_queue/
COPY shared/ shared/
COPY workers/ workers/
COPY jobs/ jobs/
COPY training/ training/
# The client: docker compose run client train ... (the workers never import it).
COPY submit.py ./
COPY client/ client/
# Renders Redis's config file, ACL users included, from the environment (the redis-config
# service; it imports shared/redis_acl.py from /app).
COPY docker/redis_config.py /usr/local/bin/catdog-redis-config

USER catdog

# workers.worker_command("cpu"): prefork pool, one process per available core unless
# --concurrency says otherwise.
CMD ["celery", "-A", "catdog_queue.workers.app", "worker", "-Q", "cpu", "--without-gossip", "--without-mingle", "-P", "prefork", "--loglevel", "INFO"]
