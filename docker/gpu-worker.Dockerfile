# GPU worker: assembles shards, trains and predicts (queue "gpu"), in the one pool process
# of a prefork worker, which owns the GPU.
#
# Build context: the repository root. From docker/docker-compose.yml:
#   build: {context: .., dockerfile: docker/gpu-worker.Dockerfile}
# by hand, from the repository root:
#   docker build -f docker/gpu-worker.Dockerfile -t catdog-queue/gpu-worker .
# or with docker/build-images.sh, which works with any builder.
#
# Why python:3.11-slim and not an nvidia/cuda base image: TensorFlow's install guide
# (tensorflow.org/install/pip) gives `pip install tensorflow[and-cuda]` as the Linux GPU
# install. That extra installs, as pip wheels (nvidia-*-cu12), the CUDA 12 and cuDNN 9
# libraries this TensorFlow release was built and tested with (for 2.21.0: CUDA 12.9,
# cuDNN 9), and TensorFlow finds them in site-packages. The host then needs only the
# NVIDIA driver and the NVIDIA Container Toolkit. An nvidia/cuda:*-cudnn-runtime base
# would bring a second CUDA whose versions must be kept in step with TensorFlow's by
# hand, and Ubuntu's Python 3.10 or 3.12 instead of the 3.11 of the other images.
#
# BASE_IMAGE: the official python:3.11-slim, or a stand-in with Python 3.11 and pip
# (docker/make-base-images.sh makes one from Debian packages).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# NVIDIA_DRIVER_CAPABILITIES: the NVIDIA Container Toolkit mounts only the driver
# libraries named here; unset, it mounts "utility" alone (nvidia-smi), without libcuda.
# nvidia/cuda images set the same value. TF_CPP_MIN_LOG_LEVEL=1: TensorFlow's C++ log
# keeps warnings and errors, not its INFO lines.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    TF_CPP_MIN_LOG_LEVEL=1

# TENSORFLOW_EXTRAS: "and-cuda" (the default) installs tensorflow[and-cuda]==X, with the
# CUDA libraries, in place of requirements.txt's tensorflow==X (the same pinned version);
# empty installs plain tensorflow==X, for hosts without a GPU and for tests (it still
# trains, on the CPU, without gigabytes of CUDA wheels). The build fails if the
# tensorflow line is missing, rather than quietly installing no TensorFlow. This layer
# comes before the code, so changing the code does not reinstall anything.
ARG TENSORFLOW_EXTRAS=and-cuda
COPY requirements.txt /tmp/requirements.txt
RUN sed -E "s/^tensorflow==/tensorflow${TENSORFLOW_EXTRAS:+[$TENSORFLOW_EXTRAS]}==/" /tmp/requirements.txt > /tmp/requirements-gpu.txt \
    && grep -q -E '^tensorflow(\[[a-z-]+\])?==' /tmp/requirements-gpu.txt \
    && pip install --no-cache-dir -r /tmp/requirements-gpu.txt \
    && rm -rf /tmp/requirements.txt /tmp/requirements-gpu.txt /root/.cache

# An unprivileged user. The gpu worker reads no image files: shards come from Redis.
ARG APP_UID=10001
RUN useradd --create-home --uid "${APP_UID}" --user-group --shell /usr/sbin/nologin catdog

WORKDIR /app
COPY celeryconfig.py ./
# catdog_queue/ names the folders beside it catdog_queue.shared, catdog_queue.workers...
COPY catdog_queue/ catdog_queue/
COPY shared/ shared/
COPY workers/ workers/
COPY jobs/ jobs/
COPY training/ training/

USER catdog

# workers.worker_command("gpu"): a prefork pool of one child, which imports TensorFlow and
# owns the GPU; the main process never imports it (TensorFlow is not fork-safe), keeps
# answering while the child trains, and replaces a child that dies (see workers/gpu.py).
CMD ["celery", "-A", "catdog_queue.workers.app", "worker", "-Q", "gpu", "--without-gossip", "--without-mingle", "-P", "prefork", "-c", "1", "--loglevel", "INFO"]
