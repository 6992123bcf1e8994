"""Following a job's tasks from the client: the decode fan-out, then its long tasks.

Every wait here has a bound or a liveness check: ``watch(queue, pending)`` is
called on every poll and raises when nothing can make progress (no live
worker on the queue, a local worker died, the broker gone for too long).
"""

import time

POLL_INTERVAL_S = 0.25


class JobFailed(RuntimeError):
    """A task of the job failed; the message names the task and the error."""


def describe(error) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def _no_watch(queue=None, pending=False) -> None:
    return None


def wait_for_decode(app, job_id, shards, on_progress, watch=_no_watch) -> list[dict]:
    """Block until every shard is decoded; ``on_progress(done, total)`` in images.

    Shards ``cached`` when the job was submitted have no task: their summary
    is already in the spec.
    """
    from jobs.canvas import decode_task_id

    results = [app.AsyncResult(decode_task_id(job_id, shard["index"])) for shard in shards]
    total = sum(len(shard["paths"]) for shard in shards)
    while True:
        done, summaries, started = 0, [], False
        for shard, result in zip(shards, results):
            if "cached" in shard:
                summaries.append(shard["cached"])
                done += len(shard["paths"])
                continue
            state = result.state
            started = started or state != "PENDING"
            if state == "SUCCESS":
                summaries.append(result.result)
                done += len(shard["paths"])
            elif state == "FAILURE":
                raise JobFailed(
                    f"decoding shard {shard['index']} failed: {describe(result.result)}"
                )
            elif state == "DECODING" and isinstance(result.info, dict):
                done += result.info.get("done", 0)
        on_progress(done, total)
        if len(summaries) == len(shards):
            return summaries
        watch("cpu", not started)
        time.sleep(POLL_INTERVAL_S)


def wait_for_tasks(results: dict, on_state, on_progress, watch=_no_watch, queue="gpu") -> dict:
    """Block until every named task ends; failures are returned, not raised.

    Returns ``{name: {"state": "SUCCESS", "result": ...}}`` or
    ``{name: {"state": "FAILURE", "error": "..."}}``. ``on_state(name,
    state)`` hears each change of state, ``on_progress(name, state, info)``
    each custom state's progress (``TRAINING`` epochs, ``PREDICTING`` images).
    """
    states, outcomes = {}, {}
    while len(outcomes) < len(results):
        for name, result in results.items():
            if name in outcomes:
                continue
            state = result.state
            if state != states.get(name):
                states[name] = state
                on_state(name, state)
            if state == "SUCCESS":
                outcomes[name] = {"state": state, "result": result.result}
            elif state == "FAILURE":
                outcomes[name] = {"state": state, "error": describe(result.result)}
            elif state == "REVOKED":
                outcomes[name] = {"state": "FAILURE", "error": "cancelled (revoked)"}
            elif isinstance(result.info, dict) and state not in ("PENDING", "STARTED"):
                on_progress(name, state, result.info)
        if len(outcomes) < len(results):
            watch(queue, all(states.get(name) == "PENDING" for name in results))
            time.sleep(POLL_INTERVAL_S)
    return outcomes


def release_results(app, task_ids: list[str]) -> None:
    """Unsubscribe from the tasks' result channels while Redis is still up.

    Celery's Redis backend subscribes to each task it sends; a leftover
    subscription makes ``AsyncResult.__del__`` talk to a Redis that the local
    cluster has already stopped, and print a traceback at exit.
    """
    consumer = getattr(app.backend, "result_consumer", None)
    if consumer is not None:
        for task_id in task_ids:
            consumer.cancel_for(task_id)
