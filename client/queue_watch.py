"""Notice a queue that no worker consumes, instead of waiting forever."""

import time

from client.follow import JobFailed


class QueueWatch:
    """Notices a queue that no worker consumes, instead of waiting forever.

    While a task stays PENDING, the workers are asked (at most every few
    seconds) which queues they consume. Busy workers are fine; no worker on
    the queue for ``wait_timeout_s`` raises JobFailed naming the queue.
    """

    def __init__(self, app, wait_timeout_s: float, interval_s: float = 5.0, stream=None):
        self.app = app
        self.wait_timeout_s = wait_timeout_s
        self.interval_s = interval_s
        self.stream = stream
        self.unconsumed_since = {}
        self.last_asked = {}

    def __call__(self, queue=None, pending=False) -> None:
        if queue is None or not pending:
            self.unconsumed_since.pop(queue, None)
            return
        now = time.monotonic()
        if now - self.last_asked.get(queue, 0.0) < self.interval_s:
            return
        self.last_asked[queue] = now
        if self.consumers(queue):
            self.unconsumed_since.pop(queue, None)
            return
        since = self.unconsumed_since.setdefault(queue, now)
        if since == now and self.stream is not None:
            print(
                f"no worker consumes queue {queue!r} yet; waiting up to"
                f" {self.wait_timeout_s:.0f}s (--wait-timeout)",
                file=self.stream,
                flush=True,
            )
        if now - since >= self.wait_timeout_s:
            raise JobFailed(
                f"no worker consumes queue {queue!r} (waited {now - since:.0f}s); start one with"
                f" `celery -A workers.app worker -Q {queue}"
                + (" --pool solo -c 1`" if queue == "gpu" else "`")
                + "; the job stays queued and runs when a worker comes"
            )

    def consumers(self, queue: str) -> list[str]:
        replies = self.app.control.inspect(timeout=1.0).active_queues() or {}
        return [
            worker
            for worker, queues in replies.items()
            if any(entry.get("name") == queue for entry in queues or [])
        ]
