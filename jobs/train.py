"""The train job: decode every shard on ``cpu`` workers, then train on a ``gpu`` worker.

A Celery chord: the header is one ``catdog.decode_shard`` task per shard, the
callback one ``catdog.train`` task that receives the shard summaries (keys and
counts). Task ids are readable (``<job>-decode-3``, ``<job>-train``), so the
client and Flower can follow each one.
"""

import time

from celery import chord, group

POLL_INTERVAL_S = 0.25


class JobFailed(RuntimeError):
    """A task of the job failed; the message names the task and the error."""


def decode_task_id(job_id: str, shard_index: int) -> str:
    return f"{job_id}-decode-{shard_index}"


def train_task_id(job_id: str) -> str:
    return f"{job_id}-train"


def build_canvas(app, job_id: str, data_root: str, shards: list[dict], options: dict):
    decode_tasks = group(
        app.signature(
            "catdog.decode_shard",
            args=(job_id, data_root, shard),
            task_id=decode_task_id(job_id, shard["index"]),
        )
        for shard in shards
    )
    train_task = app.signature(
        "catdog.train", args=(job_id, options), task_id=train_task_id(job_id)
    )
    return chord(decode_tasks, train_task)


def submit(app, job_id: str, data_root: str, shards: list[dict], options: dict):
    """Send the job's tasks; returns the train task's AsyncResult."""
    return build_canvas(app, job_id, data_root, shards, options).apply_async()


def wait_for_decode(app, job_id, shards, on_progress, check_health=lambda: None) -> list[dict]:
    """Block until every shard is decoded; ``on_progress(done, total)`` in images."""
    results = [app.AsyncResult(decode_task_id(job_id, shard["index"])) for shard in shards]
    total = sum(len(shard["paths"]) for shard in shards)
    while True:
        done, summaries = 0, []
        for shard, result in zip(shards, results):
            state = result.state
            if state == "SUCCESS":
                summaries.append(result.result)
                done += len(shard["paths"])
            elif state == "FAILURE":
                raise JobFailed(
                    f"decoding shard {shard['index']} failed: {_describe(result.result)}"
                )
            elif state == "DECODING" and isinstance(result.info, dict):
                done += result.info.get("done", 0)
        on_progress(done, total)
        if len(summaries) == len(shards):
            return summaries
        check_health()
        time.sleep(POLL_INTERVAL_S)


def wait_for_training(result, on_phase, on_epoch, check_health=lambda: None) -> dict:
    """Block until training ends; ``on_phase(state)`` and ``on_epoch(progress)``."""
    last_state = None
    while True:
        state = result.state
        if state != last_state:
            on_phase(state)
            last_state = state
        if state == "SUCCESS":
            return result.result
        if state == "FAILURE":
            raise JobFailed(f"training failed: {_describe(result.result)}")
        if state == "TRAINING" and isinstance(result.info, dict):
            on_epoch(result.info)
        check_health()
        time.sleep(POLL_INTERVAL_S)


def _describe(error) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def release_results(app, job_id: str, shards: list[dict]) -> None:
    """Unsubscribe from the job's result channels while Redis is still up.

    Celery's Redis backend subscribes to each task it sends; a leftover
    subscription makes ``AsyncResult.__del__`` talk to a Redis that the local
    cluster has already stopped, and print a traceback at exit.
    """
    task_ids = [decode_task_id(job_id, shard["index"]) for shard in shards]
    consumer = getattr(app.backend, "result_consumer", None)
    if consumer is None:
        return
    for task_id in [*task_ids, train_task_id(job_id)]:
        consumer.cancel_for(task_id)
