# GPU worker: assembles shards, trains and predicts (queue "gpu"), as one process
# that owns the GPU.
#
# Build context: the repository root. From docker/docker-compose.yml:
#   build: {context: .., dockerfile: docker/gpu-worker.Dockerfile}
# or by hand, from the repository root:
#   docker build -f docker/gpu-worker.Dockerfile -t catdog-gpu-worker .
#
# Why python:3.11-slim and not an nvidia/cuda base image: TensorFlow's install guide
# (tensorflow.org/install/pip) gives `pip install tensorflow[and-cuda]` as the Linux GPU
# install. That extra installs, as pip wheels (nvidia-*-cu12), the CUDA 12 and cuDNN 9
# libraries this TensorFlow release was built and tested with (for 2.21.0: CUDA 12.9,
# cuDNN 9), and TensorFlow finds them in site-packages. The host then needs only the
# NVIDIA driver and the NVIDIA Container Toolkit. An nvidia/cuda:*-cudnn-runtime base
# would bring a second CUDA whose versions must be kept in step with TensorFlow's by
# hand, and Ubuntu's Python 3.10 or 3.12 instead of the 3.11 of the other images.
FROM python:3.11-slim

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

# requirements.txt with tensorflow==X replaced by tensorflow[and-cuda]==X (the same
# pinned version); the build fails if that line is missing, rather than quietly
# installing a TensorFlow without the CUDA libraries.
COPY requirements.txt /tmp/requirements.txt
RUN sed -E 's/^tensorflow==/tensorflow[and-cuda]==/' /tmp/requirements.txt > /tmp/requirements-gpu.txt \
    && grep -q -E '^tensorflow\[and-cuda\]==' /tmp/requirements-gpu.txt \
    && pip install --no-cache-dir -r /tmp/requirements-gpu.txt \
    && rm -rf /tmp/requirements.txt /tmp/requirements-gpu.txt /root/.cache

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

# One process, no fork: TensorFlow is not fork-safe (see workers/gpu.py).
CMD ["celery", "-A", "workers.app", "worker", "-Q", "gpu", "--pool", "solo", "-c", "1", "--loglevel", "INFO"]
