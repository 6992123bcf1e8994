"""Busy is not missing: what a waiting job waits for, and when to give up.

The workers' registry (``shared.registry``) says which workers are alive,
which queues they consume and which jobs they run; a busy worker is listed
like an idle one, because its heartbeat thread keeps beating while it works.
So a job behind a long training waits as long as it takes and says why
(``queued: gpu busy with job X (1 ahead)``); ``--wait-timeout`` applies only
when no live worker consumes the queue at all.
"""

import time

from catdog_queue.client.follow import JobFailed
from catdog_queue.shared import kombu_redis, registry
from catdog_queue.workers import worker_command

DEFAULT_WAIT_TIMEOUT_S = 120.0  # --wait-timeout
QUEUE_SCAN_LIMIT = 1000  # messages read to find a task's place in a long queue


class QueueWatch:
    """Called on every poll of a job: ``watch(queue, pending_task_ids)``.

    ``broker`` is a Redis client of the broker; ``note(line)`` hears what the
    job waits for whenever that changes. Raises JobFailed once no live worker
    has consumed ``queue`` for ``wait_timeout_s`` (None: wait without bound,
    for a local cluster whose workers ``also`` checks).
    """

    def __init__(
        self, broker, wait_timeout_s, note=None, also=None, interval_s=2.0, clock=None,
        workers=registry.live_workers,
    ):  # fmt: skip
        self.broker = broker
        self.workers = workers  # workers(broker): the live registry entries
        self.wait_timeout_s = wait_timeout_s
        self.note = note or (lambda line: None)
        self.also = also or (lambda: None)
        self.interval_s = interval_s
        self.clock = clock or time.monotonic
        self.unconsumed_since = {}
        self.last_checked = {}
        self.last_note = None

    def __call__(self, queue: str, pending: list[str]) -> None:
        self.also()
        if not pending:
            self.unconsumed_since.pop(queue, None)
            return
        now = self.clock()
        if now - self.last_checked.get(queue, -self.interval_s) < self.interval_s:
            return
        self.last_checked[queue] = now
        workers = registry.consumers(self.workers(self.broker), queue)
        if workers:
            self.unconsumed_since.pop(queue, None)
            self._say(self.describe(queue, pending, workers))
            return
        since = self.unconsumed_since.setdefault(queue, now)
        if self.wait_timeout_s is None:
            self._say(f"queued: no live worker consumes queue {queue!r} yet")
            return
        if now - since >= self.wait_timeout_s:
            raise JobFailed(
                f"no worker consumes queue {queue!r} (waited {now - since:.0f}s); start one with"
                f" `{' '.join(worker_command(queue))}`; the job stays queued and runs when a"
                " worker comes"
            )
        self._say(
            f"queued: no live worker consumes queue {queue!r} yet; waiting up to"
            f" {self.wait_timeout_s:.0f}s (--wait-timeout)"
        )

    def describe(self, queue: str, pending=(), workers=None) -> str:
        """``queued: gpu busy with job X (1 ahead)``, or why nothing happens on ``queue``."""
        if workers is None:
            workers = registry.consumers(self.workers(self.broker), queue)
        if not workers:
            return f"queued: no live worker consumes queue {queue!r}"
        running = [task for worker in workers for task in worker.tasks if task.get("running")]
        jobs = sorted({task["job"] for task in running if task["id"] not in pending})
        ahead = len([task for task in running if task["id"] not in pending])
        ahead += queued_ahead(self.broker, queue, pending)
        if not jobs:
            return f"queued: {ahead} ahead on {queue}" if ahead else ""
        return f"queued: {queue} busy with job {', '.join(jobs)} ({ahead} ahead)"

    def _say(self, line: str) -> None:
        if line != self.last_note:
            self.last_note = line
            if line:
                self.note(line)


def queued_ahead(broker, queue: str, pending) -> int:
    """Messages in ``queue`` that workers will take before the first of ``pending``.

    If none of ours is in the queue (not sent yet), everything in it is ahead.
    """
    pending = set(pending)
    for before_it, raw in enumerate(kombu_redis.next_in_queue(broker, queue, QUEUE_SCAN_LIMIT)):
        if kombu_redis.queued_task_id(raw) in pending:
            return before_it
    return broker.llen(queue)
