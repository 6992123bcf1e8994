"""What a local cluster's gpu worker needs installed: Keras and its backend's framework.

``pip install catdog-queue`` installs the client and the cpu workers, no
deep-learning framework (a laptop that only submits to a standing cluster
needs none); ``[tensorflow]``, ``[jax]`` or ``[torch]`` adds what training
needs. A local cluster trains in this environment, so it checks first and
says what to install, instead of starting a gpu worker that fails its task.
"""

import importlib.util

from catdog_queue.client.local_cluster.processes import ClusterError


def missing_training_packages(backend: str, find_spec=importlib.util.find_spec) -> list[str]:
    """The packages a gpu worker on ``backend`` would import and cannot find here."""
    return [name for name in ("keras", backend) if find_spec(name) is None]


def require_training_packages(backend: str, find_spec=importlib.util.find_spec) -> None:
    missing = missing_training_packages(backend, find_spec)
    if missing:
        raise ClusterError(
            f"a local cluster trains in this Python environment, which lacks"
            f" {' and '.join(missing)} (the gpu worker's Keras backend is {backend}):"
            f" pip install 'catdog-queue[{backend}]' (or pip install -r requirements.txt"
            f" in a checkout), or send the job to a standing cluster with --broker URL"
            f" (CELERY_BROKER_URL)"
        )
