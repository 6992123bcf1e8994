"""What no task message may do to a worker: take it down, or come back forever.

Every task of the project is a ``GuardedTask``. Around its body:

- ``MemoryError`` becomes ``OutOfMemory``, an ordinary failure of that task.
  Celery re-raises a task's MemoryError in the worker's main process, which
  then exits ("Unrecoverable error") and hands the message back to the queue:
  one crafted message would stop the worker, and every worker after it.
- Each try is counted (``shared.dead_letters``): a message whose tries died
  ``MAX_DEATHS`` times is buried in the dead-letter list instead of run again.
  Celery's own end of retries after a lost pool process buries it too.

A shutdown (Ctrl-C of an embedded run, ``docker compose stop``) interrupts
tries on purpose: their counts are cleared, so ``resume`` is never refused.
"""

import logging

from celery import Task
from celery.exceptions import WorkerLostError
from celery.signals import task_failure, worker_shutdown, worker_shutting_down
from celery.worker import state as worker_state

from catdog_queue.shared import dead_letters
from catdog_queue.workers.store import store

logger = logging.getLogger("catdog.guarded")
_interrupted_by_shutdown: list[str] = []


class OutOfMemory(RuntimeError):
    """A task asked for more memory than its process may have; the worker goes on."""


class GuardedTask(Task):
    def __call__(self, *args, **kwargs):
        task_id = self.request.id
        if task_id is None:  # called as a function (unit tests): nothing to count
            return self._run_bounded(args, kwargs)
        redis_client = store().redis
        if dead_letters.is_buried(redis_client, task_id):
            raise dead_letters.DeadLettered(
                f"task {task_id} is in the dead-letter list; it is not run again"
            )
        deaths = dead_letters.note_start(redis_client, task_id)
        if deaths >= dead_letters.MAX_DEATHS:
            reason = (
                f"the processes running it died {deaths} times (killed, out of memory, or"
                " crashed); it is not run again"
            )
            dead_letters.bury(redis_client, task_id, self.name, list(args), reason)
            logger.error("dead-lettered task %s (%s): %s", task_id, self.name, reason)
            raise dead_letters.DeadLettered(f"task {task_id}: {reason}")
        try:
            return self._run_bounded(args, kwargs)
        finally:
            dead_letters.note_end(redis_client, [task_id])

    def _run_bounded(self, args, kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except MemoryError as error:
            raise OutOfMemory(
                f"{self.name} ran out of memory ({type(error).__name__}: {error or 'an'}"
                " allocation failed) within its process's limit (CATDOG_POOL_MEMORY_MB);"
                " the task failed, the worker goes on"
            ) from None


@task_failure.connect
def bury_after_the_last_lost_try(sender=None, task_id=None, exception=None, args=(), **_):
    """In the worker's main process: Celery gave up retrying a task whose process died."""
    if not isinstance(exception, WorkerLostError) or task_id is None:
        return
    if worker_state.should_terminate or worker_state.should_stop:
        return  # this worker is shutting down: it stopped the process itself
    reason = f"its pool process died on every try, the last time with: {exception}"
    try:
        dead_letters.bury(store().redis, task_id, getattr(sender, "name", "?"), args, reason)
        logger.error("dead-lettered task %s: %s", task_id, reason)
    except Exception as error:  # Redis away: Celery has already marked it failed
        logger.warning("could not dead-letter task %s: %s", task_id, error)


@worker_shutting_down.connect
def note_the_tries_a_shutdown_interrupts(**_):
    # In a signal handler: copy ids only; Redis is told in worker_shutdown.
    _interrupted_by_shutdown.extend(request.id for request in list(worker_state.active_requests))


@worker_shutdown.connect
def uncount_the_interrupted_tries(**_):
    if not _interrupted_by_shutdown:
        return
    try:
        dead_letters.note_end(store().redis, _interrupted_by_shutdown)
    except Exception as error:
        logger.warning("could not clear the try counts of interrupted tasks: %s", error)
