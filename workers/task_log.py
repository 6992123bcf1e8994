"""One log line when each task starts and when it ends, with its job id and time.

Celery logs receipt and success by task id; these lines add the job and the
outcome in one place, so ``grep <job id>`` over the workers' logs tells the
story of a job.
"""

import logging
import time

from celery.signals import task_postrun, task_prerun

logger = logging.getLogger("catdog.tasks")
_started: dict[str, float] = {}


def _job_of(args) -> str:
    return str(args[0]) if args else "-"


@task_prerun.connect
def log_task_start(task_id=None, task=None, args=(), **_):
    _started[task_id] = time.perf_counter()
    logger.info("start %s job=%s task=%s", task.name, _job_of(args), task_id)


@task_postrun.connect
def log_task_end(task_id=None, task=None, args=(), state=None, **_):
    seconds = time.perf_counter() - _started.pop(task_id, time.perf_counter())
    logger.info(
        "end %s job=%s task=%s state=%s in %.2fs", task.name, _job_of(args), task_id, state, seconds
    )
