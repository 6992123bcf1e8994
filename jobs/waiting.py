"""Following a job's tasks from the client: decode fan-out, one long task, failures."""

import time

from celery import chord, group

POLL_INTERVAL_S = 0.25


class JobFailed(RuntimeError):
    """A task of the job failed; the message names the task and the error."""


def decode_task_id(job_id: str, shard_index: int) -> str:
    return f"{job_id}-decode-{shard_index}"


def decode_signatures(app, job_id: str, data_root: str, shards: list[dict]) -> list:
    """One decode task per shard that is not ``cached`` (see ``mark_cached``)."""
    return [
        app.signature(
            "catdog.decode_shard",
            args=(job_id, data_root, shard),
            task_id=decode_task_id(job_id, shard["index"]),
        )
        for shard in shards
        if "cached" not in shard
    ]


def after_decoding(decode_tasks: list, body):
    """``body`` once every decode task is done: a chord, or ``body`` alone if none."""
    return chord(group(decode_tasks), body) if decode_tasks else body


def _no_check(queue=None, pending=False) -> None:
    return None


def wait_for_decode(app, job_id, shards, on_progress, check_health=_no_check) -> list[dict]:
    """Block until every shard is decoded; ``on_progress(done, total)`` in images.

    ``check_health(queue, pending)`` may raise to stop waiting (a dead local
    worker, a queue nobody consumes).
    """
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
        check_health("cpu", not started)
        time.sleep(POLL_INTERVAL_S)


def wait_for_task(result, what: str, on_state, on_progress, check_health=_no_check, queue="gpu"):
    """Block until one task ends; its custom states' progress goes to ``on_progress``.

    Its result, or JobFailed naming ``what`` failed and why.
    """
    outcome = wait_for_tasks(
        {what: result},
        lambda _, state: on_state(state),
        lambda _, state, info: on_progress(state, info),
        check_health,
        queue,
    )[what]
    if outcome["state"] == "FAILURE":
        raise JobFailed(f"{what} failed: {outcome['error']}")
    return outcome["result"]


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


def describe(error) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def wait_for_tasks(
    results: dict, on_state, on_progress, check_health=_no_check, queue="gpu"
) -> dict:
    """Block until every named task ends; failures are returned, not raised.

    Returns ``{name: {"state": "SUCCESS", "result": ...}}`` or
    ``{name: {"state": "FAILURE", "error": "..."}}``.
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
            elif isinstance(result.info, dict) and state not in ("PENDING", "STARTED"):
                on_progress(name, state, result.info)
        check_health(queue, all(states.get(name) == "PENDING" for name in results))
        if len(outcomes) < len(results):
            time.sleep(POLL_INTERVAL_S)
    return outcomes


class QueueWatch:
    """Notices a queue that no worker consumes, instead of waiting forever.

    While a task stays PENDING, the workers are asked (at most every few
    seconds) which queues they consume. Busy workers are fine; no worker on
    the queue for ``wait_timeout_s`` raises JobFailed naming the queue.
    """

    def __init__(self, app, wait_timeout_s: float, interval_s: float = 5.0, stream=None):
        self.app = app
        self.wait_timeout_s = wait_timeout_s
        self.interval_s = interval_s
        self.stream = stream
        self.unconsumed_since = {}
        self.last_asked = {}

    def __call__(self, queue=None, pending=False) -> None:
        if queue is None or not pending:
            self.unconsumed_since.pop(queue, None)
            return
        now = time.monotonic()
        if now - self.last_asked.get(queue, 0.0) < self.interval_s:
            return
        self.last_asked[queue] = now
        if self.consumers(queue):
            self.unconsumed_since.pop(queue, None)
            return
        since = self.unconsumed_since.setdefault(queue, now)
        if since == now and self.stream is not None:
            print(
                f"no worker consumes queue {queue!r} yet; waiting up to"
                f" {self.wait_timeout_s:.0f}s (--wait-timeout)",
                file=self.stream,
                flush=True,
            )
        if now - since >= self.wait_timeout_s:
            raise JobFailed(
                f"no worker consumes queue {queue!r} (waited {now - since:.0f}s); start one with"
                f" `celery -A workers.app worker -Q {queue}"
                + (" --pool solo -c 1`" if queue == "gpu" else "`")
                + "; the job stays queued and runs when a worker comes"
            )

    def consumers(self, queue: str) -> list[str]:
        replies = self.app.control.inspect(timeout=1.0).active_queues() or {}
        return [
            worker
            for worker, queues in replies.items()
            if any(entry.get("name") == queue for entry in queues or [])
        ]
