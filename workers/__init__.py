"""Celery's side: the app (``workers.app``) and the tasks of each queue.

``workers.cpu`` decodes shards, ``workers.gpu`` trains and predicts;
``workers.heartbeat`` keeps each worker's registry entry and re-queues the
tasks of workers that died. The task bodies are thin: the work itself lives
in ``shared/`` (decoding) and ``training/`` (the GPU side).
"""

# How each queue's worker runs. The gpu worker has one pool process, which owns
# the GPU; its main process never imports TensorFlow and keeps answering.
POOL_OPTIONS = {"cpu": ["-P", "prefork"], "gpu": ["-P", "prefork", "-c", "1"]}


# No gossip and no mingle: workers learn of each other through the registry
# (workers.heartbeat), and Redis users grant no channels or queues for those.
QUIET_OPTIONS = ["--without-gossip", "--without-mingle"]


def worker_command(queue: str) -> list[str]:
    """``celery -A catdog_queue.workers.app worker -Q QUEUE ...``: how a worker is started."""
    return [
        "celery",
        "-A",
        "catdog_queue.workers.app",
        "worker",
        "-Q",
        queue,
        *QUIET_OPTIONS,
        *POOL_OPTIONS[queue],
    ]
