"""One interface over the job kinds: the canvas to send and the tasks to follow.

The kinds are declared once, as ``record_checks.PARTS`` (each kind's parts);
each has a module of its own name here (``jobs/<kind>.py``) and one in
``client/commands/`` that collects its results (``client.commands.collector_for``).
"""

import importlib

from catdog_queue.jobs import compare
from catdog_queue.jobs.canvas import decode_task_id
from catdog_queue.jobs.record_checks import PARTS

KINDS = tuple(PARTS)
_MODULES = {kind: importlib.import_module(f"{__package__}.{kind}") for kind in KINDS}


def build_canvas(app, record):
    return _MODULES[record.kind].build_canvas(app, record)


def followed_tasks(record) -> dict[str, str]:
    """``{name: task id}`` of the long ``gpu`` tasks, in the order they run."""
    return _MODULES[record.kind].followed_tasks(record)


def decode_task_ids(record) -> list[str]:
    return [decode_task_id(record.job_id, shard["index"]) for shard in record.shards]


def all_task_ids(record) -> list[str]:
    return decode_task_ids(record) + list(followed_tasks(record).values())


def state_ids(record) -> list[str]:
    """The ids under which the job's long tasks keep their state (cancel flag, result)."""
    if record.kind == "compare":
        return [compare.run_job_id(record.job_id, run["name"]) for run in record.runs]
    return [record.job_id]
