"""Each worker's heartbeat, and the watchdog that re-queues the tasks of dead workers.

A thread in the worker's main process writes the worker's registry entry
(``shared.registry``) every few seconds: its queues and the tasks it holds.
The same thread, on one worker at a time, looks at the broker's unacknowledged
messages: a message that no live worker holds belonged to a worker that died
(killed, out of memory, its machine gone). Redis would hand it out again only
after the visibility timeout (hours, so that long trainings are never
delivered twice); the watchdog puts it back in its queue within about half a
minute of the death instead. Tasks are idempotent, so a rare second copy is
harmless; a task whose workers died ``MAX_RESTORES`` times fails instead of
looping.
"""

import logging
import os
import threading
import time

from celery.exceptions import WorkerLostError
from celery.signals import worker_ready, worker_shutdown
from celery.worker import state as worker_state

from catdog_queue.shared import dead_letters, kombu_redis, registry
from catdog_queue.workers.store import store

logger = logging.getLogger("catdog.heartbeat")
WATCHDOG_INTERVAL_S = 10.0
# An unacknowledged message younger than this may still be on its way into a
# worker's list of held tasks.
ORPHAN_GRACE_S = registry.TTL_S + registry.BEAT_INTERVAL_S
MAX_RESTORES = 3
_heart = None


class Heart(threading.Thread):
    def __init__(self, app, hostname: str, queues: list[str]):
        super().__init__(name="catdog-heartbeat", daemon=True)
        self.app, self.hostname, self.queues = app, hostname, queues
        self.stopped = threading.Event()
        self.connection = None
        self.last_watch = 0.0

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                channel = self._channel()
                registry.write_entry(channel.client, self.entry())
                if time.monotonic() - self.last_watch >= WATCHDOG_INTERVAL_S:
                    self.last_watch = time.monotonic()
                    restore_orphans(self.app, channel)
            except Exception as error:  # the broker is away: beat again when it is back
                logger.warning("heartbeat of %s failed: %s", self.hostname, error)
                self._drop_connection()
            self.stopped.wait(registry.BEAT_INTERVAL_S)
        self._say_goodbye()

    def entry(self) -> registry.WorkerEntry:
        running = {request.id for request in _snapshot(worker_state.active_requests)}
        tasks = [
            {"id": request.id, "name": request.name, "job": _job_of(request), "running": False}
            for request in _snapshot(worker_state.requests.values())
        ]
        for task in tasks:
            task["running"] = task["id"] in running
        return registry.WorkerEntry(self.hostname, self.queues, os.getpid(), time.time(), tasks)

    def _channel(self):
        if self.connection is None:
            self.connection = self.app.connection_for_write()
        return self.connection.default_channel

    def _drop_connection(self) -> None:
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:
                pass
        self.connection = None

    def _say_goodbye(self) -> None:
        try:
            registry.remove_entry(self._channel().client, self.hostname)
        except Exception:
            pass  # it expires by itself
        self._drop_connection()


def restore_orphans(app, channel, now: float | None = None) -> list[str]:
    """Put back in their queues the unacknowledged messages that no live worker holds.

    One worker at a time does this (a short lock); returns the restored task ids.
    """
    client = channel.client
    if not client.set("catdog:watchdog", "1", nx=True, ex=int(WATCHDOG_INTERVAL_S) - 1):
        return []
    now = time.time() if now is None else now
    workers = registry.live_workers(client, now)
    restored = []
    for tag, delivered_at in kombu_redis.unacknowledged(channel):
        if now - delivered_at < ORPHAN_GRACE_S:
            continue
        if any(worker.beat_at < delivered_at + 1 for worker in workers):
            continue  # some worker has not reported since: it may hold this one
        payload = kombu_redis.unacknowledged_message(channel, tag)
        if payload is None:
            continue
        task_id = _task_id(payload)
        if task_id is None or any(worker.holds(task_id) for worker in workers):
            continue
        restored_before = client.incr(f"catdog:restored:{task_id}")
        client.expire(f"catdog:restored:{task_id}", 86400)
        if restored_before > MAX_RESTORES:
            _give_up(app, channel, tag, task_id, payload)
            continue
        kombu_redis.restore(channel, tag)
        logger.warning("re-queued task %s: the worker that held it is gone", task_id)
        restored.append(task_id)
    return restored


def _give_up(app, channel, tag, task_id: str, payload: bytes) -> None:
    kombu_redis.forget(channel, tag)
    error = WorkerLostError(
        f"the workers running task {task_id} died {MAX_RESTORES} times (killed, out of"
        " memory, or their machine went away); it is not tried again"
    )
    app.backend.mark_as_failure(task_id, error)
    headers = kombu_redis.unacknowledged_headers(payload)
    task_name, arguments = headers.get("task", "?"), [str(headers.get("argsrepr", ""))]
    dead_letters.bury(store().redis, task_id, task_name, arguments, str(error))
    logger.error("gave up on task %s: %s", task_id, error)


def _task_id(payload: bytes) -> str | None:
    task_id = kombu_redis.unacknowledged_headers(payload).get("id")
    return task_id if isinstance(task_id, str) else None


def _job_of(request) -> str:
    try:
        return str(request.args[0])
    except Exception:
        return "-"


def _snapshot(collection) -> list:
    """A copy of a set the worker's main thread changes as we read it."""
    for _ in range(5):
        try:
            return list(collection)
        except RuntimeError:  # changed size during iteration
            continue
    return []


@worker_ready.connect
def start_heart(sender, **_):
    global _heart
    queues = sorted(sender.app.amqp.queues.consume_from)
    _heart = Heart(sender.app, sender.hostname, queues)
    _heart.start()


@worker_shutdown.connect
def stop_heart(**_):
    if _heart is not None:
        _heart.stopped.set()
        _heart.join(timeout=5)
