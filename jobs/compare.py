"""The compare job: decode once, then one ``catdog.train`` task per run.

A chord whose header decodes every shard and whose body is a group of
training tasks, one per optimizer (and learning rate): with several ``gpu``
workers they run in parallel. Every run trains on the same shards with the
same seed, so the same images are held out for all of them, and each builds
its model and optimizer from scratch. A failed run fails alone.
"""

from celery import group

from catdog_queue.jobs.canvas import after_decoding, decode_signatures
from catdog_queue.shared import task_names


def run_job_id(job_id: str, run_name: str) -> str:
    """Each run's artifacts and training state live under their own id: ``<job>-<run>``."""
    return f"{job_id}-{run_name}"


def run_task_id(job_id: str, run_name: str) -> str:
    return f"{job_id}-train-{run_name}"


def run_name(optimizer: str, learning_rate: float, with_rate: bool) -> str:
    return f"{optimizer}-{learning_rate:g}" if with_rate else optimizer


def build_canvas(app, record):
    job_id, part = record.job_id, record.part("train")
    trainings = group(
        app.signature(
            task_names.TRAIN,
            args=(run_job_id(job_id, run["name"]), part.data_root, part.shards, run["options"]),
            task_id=run_task_id(job_id, run["name"]),
            immutable=True,
        )
        for run in record.runs
    )
    return after_decoding(decode_signatures(app, job_id, part.data_root, part.shards), trainings)


def followed_tasks(record) -> dict[str, str]:
    return {run["name"]: run_task_id(record.job_id, run["name"]) for run in record.runs}
