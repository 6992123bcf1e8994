"""Following a job's tasks from the client: the decode fan-out, then its long tasks.

Every wait here has a bound or a liveness check: ``watch(queue, pending)``
is called on every poll with the ids of the tasks not started yet, and
raises when nothing can make progress (no live worker on the queue, a local
worker died); see ``client.queue_watch``.
"""

import sys
import time

POLL_INTERVAL_S = 0.25


class JobFailed(RuntimeError):
    """A task of the job failed; the message names the task and the error."""


def _connection_errors() -> tuple:
    import redis
    from celery.exceptions import BackendError
    from kombu.exceptions import OperationalError

    return (redis.ConnectionError, redis.TimeoutError, BackendError, OperationalError, OSError)


class Outage:
    """Rides out a Redis that stops answering for a while, within a bound."""

    def __init__(self, job_id: str, limit_s: float | None = None, stream=None):
        from catdog_queue.shared import settings

        # A restart takes seconds; the job itself goes on on the cluster either way.
        self.limit_s = settings.redis_outage_limit_seconds() if limit_s is None else limit_s
        self.job_id, self.stream = job_id, stream or sys.stderr
        self.since = None
        self.errors = _connection_errors()

    def poll(self, body):
        """``body()``, or None while Redis is away; JobFailed once away too long."""
        try:
            result = body()
        except self.errors as error:
            now = time.monotonic()
            if self.since is None:
                self.since = now
                print(
                    f"lost contact with Redis ({type(error).__name__}: {error}); retrying for up"
                    f" to {self.limit_s:.0f}s",
                    file=self.stream,
                    flush=True,
                )
            if now - self.since > self.limit_s:
                raise JobFailed(
                    f"Redis has not answered for {now - self.since:.0f}s ({error}); the job goes"
                    f" on on the cluster if it comes back: `submit.py status {self.job_id}`"
                    f" and `submit.py fetch {self.job_id}` later"
                ) from None
            return None
        if self.since is not None:
            print("Redis answers again", file=self.stream, flush=True)
            self.since = None
        return result


def describe(error) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def _no_watch(queue, pending) -> None:
    return None


def wait_for_decode(app, job_id, shards, on_progress, watch=_no_watch) -> list[dict]:
    """Block until every shard is decoded; ``on_progress(done, total)`` in images.

    Shards ``cached`` when the job was submitted have no task: their summary
    is already in the spec.
    """
    from catdog_queue.jobs.canvas import decode_task_id
    from catdog_queue.jobs.part_checks import checked_summary

    results = [app.AsyncResult(decode_task_id(job_id, shard["index"])) for shard in shards]
    total = sum(len(shard["paths"]) for shard in shards)
    outage = Outage(job_id)

    def poll():
        done, summaries, pending = 0, [], []
        for shard, result in zip(shards, results):
            if "cached" in shard:
                summaries.append(shard["cached"])
                done += len(shard["paths"])
                continue
            state = result.state
            if state == "PENDING":
                pending.append(result.id)
            if state == "SUCCESS":  # a result anyone with the password may have written
                summaries.append(checked_summary(result.result, shard))
                done += len(shard["paths"])
            elif state == "FAILURE":
                raise JobFailed(
                    f"decoding shard {shard['index']} failed: {describe(result.result)}"
                )
            elif state == "DECODING" and isinstance(result.info, dict):
                done += result.info.get("done", 0)
        on_progress(done, total)
        if len(summaries) < len(shards):
            watch("cpu", pending)
        return summaries

    while True:
        summaries = outage.poll(poll)
        if summaries is not None and len(summaries) == len(shards):
            return summaries
        time.sleep(POLL_INTERVAL_S)


def wait_for_tasks(
    results: dict, on_state, on_progress, watch=_no_watch, queue="gpu", job_id="the job"
) -> dict:
    """Block until every named task ends; failures are returned, not raised.

    Returns ``{name: {"state": "SUCCESS", "result": ...}}`` or
    ``{name: {"state": "FAILURE", "error": "..."}}``. ``on_state(name,
    state)`` hears each change of state, ``on_progress(name, state, info)``
    each custom state's progress (``TRAINING`` epochs, ``PREDICTING`` images).
    """
    states, outcomes = {}, {}
    outage = Outage(job_id)

    def poll():
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
            pending = [result.id for name, result in results.items() if states[name] == "PENDING"]
            watch(queue, pending)

    while len(outcomes) < len(results):
        outage.poll(poll)
        if len(outcomes) < len(results):
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
