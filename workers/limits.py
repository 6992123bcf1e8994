"""An address-space limit on every pool process, so a runaway task fails alone.

Without it, a task that allocates more than the machine has wakes the
kernel's OOM killer, which picks a victim by size: perhaps Redis, or the
worker's main process. With it, the allocation itself fails: MemoryError in
that task (``workers.guarded`` makes it the task's failure), or a crash of
that pool process alone, which Celery replaces.
"""

import logging
import resource

from celery.signals import worker_process_init

from catdog_queue.shared import settings

logger = logging.getLogger("catdog.limits")


def address_space_bytes() -> int:
    """What this process has mapped now (VmSize)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def limit_address_space(growth_bytes: int | None) -> int | None:
    """Let this process map ``growth_bytes`` more than it has now; returns the limit.

    Relative to what it has: what a freshly forked pool process already maps
    (libraries, thread stacks and BLAS buffers, TensorFlow) depends on the
    machine's cores and libraries, not on the task.
    """
    if growth_bytes is None:
        return None
    limit_bytes = address_space_bytes() + growth_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))
    return limit_bytes


@worker_process_init.connect
def limit_this_pool_process(sender=None, **_):
    from catdog_queue.workers.app import app

    queue = "gpu" if "gpu" in app.amqp.queues.consume_from else "cpu"
    limit_bytes = limit_address_space(settings.pool_memory_limit_bytes(queue))
    logger.info(
        "pool process address space: %s",
        "unlimited" if limit_bytes is None else f"at most {limit_bytes / 2**20:.0f} MiB",
    )
