"""Celery's remote control, cut down to what every password holder may do.

Celery's control messages (``app.control.shutdown()``, ``cancel_consumer``,
``pool_restart``, ...) travel through the broker with no sender identity:
whoever can publish to Redis could stop or reconfigure every worker of the
cluster. So the workers answer only questions (``inspect``: ping, stats,
active, registered, ...) and refuse every command that changes them, saying
so. Operators stop and scale workers through what started them: the
``submit.py cluster`` process, ``docker compose stop|restart|up --scale``,
or a signal on the worker's machine.

``revoke`` stays for ``submit.py cancel``, within bounds: only tasks of a job
whose cancel flag is set (``shared.job_state``), and never ``terminate``, so
it can stop no one's running process.
"""

import logging
import re

from celery.worker import control

from catdog_queue.shared import settings
from catdog_queue.shared.job_state import JobState

logger = logging.getLogger("catdog.control")

REFUSED = (
    "shutdown",
    "pool_restart",
    "pool_grow",
    "pool_shrink",
    "autoscale",
    "add_consumer",
    "cancel_consumer",
    "rate_limit",
    "time_limit",
    "terminate",
    "revoke_by_stamped_headers",
    "disable_events",
    "election",
    "objgraph",
    "memdump",
    "memsample",
)
# A task id begins with its job's id (``jobs.canvas``, ``jobs.train``, ...).
_JOB_OF_TASK = re.compile(r"^(\d{8}-\d{6}-[0-9a-f]{6})(?:-|$)")
_celery_revoke = control.Panel.data["revoke"]


def _refusal(name: str):
    def refuse(state, *args, **kwargs):
        logger.warning("refused the remote control command %r: not for password holders", name)
        return control.nok(
            f"{name} is refused by this cluster's workers: stop or change workers through"
            " what started them (submit.py cluster, docker compose, a signal)"
        )

    return refuse


def revoke_cancelled(state, task_id, terminate=False, signal=None, **kwargs):
    """Celery's ``revoke`` for the tasks of cancelled jobs only, never terminating."""
    task_ids = set(control.maybe_list(task_id) or [])
    if terminate:
        return control.nok("revoke with terminate is refused by this cluster's workers")
    from catdog_queue.workers.store import store

    redis_client = store().redis
    cancelled = {}
    for one_id in task_ids:
        match = _JOB_OF_TASK.match(str(one_id))
        job_id = match.group(1) if match else None
        if job_id not in cancelled:
            cancelled[job_id] = (
                job_id is not None
                and JobState(redis_client, job_id, settings.artifact_ttl_seconds()).cancelled()
            )
        if not cancelled[job_id]:
            return control.nok(
                f"revoke refused: {str(one_id)[:80]} is not a task of a cancelled job"
            )
    return _celery_revoke(state, list(task_ids))


def restrict() -> None:
    """Replace the refused commands in Celery's (process-wide) control panel."""
    for name in REFUSED:
        if name in control.Panel.data:
            control.Panel.data[name] = _refusal(name)
    control.Panel.data["revoke"] = revoke_cancelled


restrict()
