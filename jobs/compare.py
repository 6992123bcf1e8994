"""The compare job: decode once, then one ``catdog.train`` task per run.

A chord whose header decodes every shard and whose body is a group of
training tasks, one per optimizer (and learning rate): with several ``gpu``
workers they run in parallel. Every run trains on the same shards with the
same seed, so the same images are held out for all of them, and each builds
its model and optimizer from scratch. A failed run fails alone.
"""

from celery import group

from jobs.waiting import after_decoding, decode_signatures


def run_job_id(job_id: str, run_name: str) -> str:
    """Each run's artifacts live under their own id: ``<job>-<run>``."""
    return f"{job_id}-{run_name}"


def run_task_id(job_id: str, run_name: str) -> str:
    return f"{job_id}-train-{run_name}"


def run_name(optimizer: str, learning_rate: float, with_rate: bool) -> str:
    return f"{optimizer}-{learning_rate:g}" if with_rate else optimizer


def build_canvas(app, job_id: str, data_root: str, shards: list[dict], runs: list[dict]):
    """``runs``: ``[{"name": ..., "options": ...}]``, one training task each."""
    trainings = group(
        app.signature(
            "catdog.train",
            args=(run_job_id(job_id, run["name"]), data_root, shards, run["options"]),
            task_id=run_task_id(job_id, run["name"]),
            immutable=True,
        )
        for run in runs
    )
    return after_decoding(decode_signatures(app, job_id, data_root, shards), trainings)
