"""A job's phase and progress, read from Redis: what ``status`` and ``jobs`` print.

``PHASES`` lists every phase; the README lists the same (tests/unit/test_readme.py).
A queued job says what it waits for (the workers busy with other jobs, and how
many tasks are ahead of it).
"""

import time

from catdog_queue.client.follow import describe
from catdog_queue.jobs import kinds
from catdog_queue.shared import dead_letters, settings
from catdog_queue.shared.job_state import JobState

RUNNING_STATES = {"TRAINING": "training", "PREDICTING": "predicting"}
# What a gpu task says before it trains or predicts (workers/gpu.py, workers/assembly.py).
PREPARING_STATES = {
    "STARTED": "started",
    "ASSEMBLING": "assembling",
    "REDECODING": "redecoding",
    "WAITING": "waiting",
    "RETRY": "retrying",
}
PHASES = (
    "queued",
    "decoding",
    *PREPARING_STATES.values(),
    *RUNNING_STATES.values(),
    "done",
    "failed",
    "cancelled",
)


def job_status(session, record) -> dict:
    status = {"job_id": record.job_id, "kind": record.kind}
    status["age_s"] = max(0.0, time.time() - record.created)
    shards = record.shards
    uncached = [shard for shard in shards if "cached" not in shard]
    decode_states = {
        task_id: session.app.AsyncResult(task_id).state
        for task_id in kinds.decode_task_ids(record)
        if any(task_id.endswith(f"-decode-{shard['index']}") for shard in uncached)
    }
    decoded = len(shards) - len(uncached) + sum(s == "SUCCESS" for s in decode_states.values())
    status["shards"] = (
        f"{decoded}/{len(shards)} decoded ({len(shards) - len(uncached)} from the cache"
        + (", files uploaded" if record.upload else "")
        + ")"
    )
    phase, detail = _phase(session, record, decode_states, decoded == len(shards))
    status["phase"] = phase
    if detail:
        status["detail"] = detail
    if phase == "done":
        status["result"] = _result(session, record)
    buried = dead_letters.dead_letters_of(session.store.redis, kinds.all_task_ids(record))
    if buried:
        status["dead_letters"] = f"{', '.join(buried)} (`submit.py deadletters` says why)"
    return status


def _phase(session, record, decode_states: dict, all_decoded: bool) -> tuple[str, str]:
    if any(
        JobState(session.store.redis, job_id, settings.artifact_ttl_seconds()).cancelled()
        for job_id in kinds.state_ids(record)
    ):
        return "cancelled", ""
    failed = [task_id for task_id, state in decode_states.items() if state == "FAILURE"]
    if failed:
        error = describe(session.app.AsyncResult(failed[0]).result)
        return "failed", f"{failed[0]}: {error}"
    tasks = {
        name: session.app.AsyncResult(task_id)
        for name, task_id in kinds.followed_tasks(record).items()
    }
    states = {name: result.state for name, result in tasks.items()}
    for name, state in states.items():
        if state == "FAILURE":
            return "failed", f"{name}: {describe(tasks[name].result)}"
    if all(state == "SUCCESS" for state in states.values()):
        return "done", ""
    for name, state in states.items():
        if state in RUNNING_STATES:
            info = tasks[name].info if isinstance(tasks[name].info, dict) else {}
            if state == "TRAINING":
                progress = f"epoch {info.get('epoch')}/{info.get('epochs')}"
            else:
                progress = f"{info.get('done')}/{info.get('total')} images"
            return RUNNING_STATES[state], (f"{name} " if len(states) > 1 else "") + progress
        if state not in ("PENDING", "SUCCESS"):
            # A state no list names yet is shown as it is, not hidden.
            return PREPARING_STATES.get(state, state.lower()), name
    if not all_decoded:
        if any(state != "PENDING" for state in decode_states.values()):
            return "decoding", ""
        return "queued", session.describe_queue("cpu", list(decode_states))
    pending = [task.id for name, task in tasks.items() if states[name] == "PENDING"]
    return "queued", session.describe_queue("gpu", pending)


def _result(session, record) -> str:
    outcomes = {
        name: session.app.AsyncResult(task_id).result
        for name, task_id in kinds.followed_tasks(record).items()
    }
    if record.kind == "predict":
        return f"{outcomes['prediction']['images']} images"
    accuracies = [
        result["metrics"]["test_accuracy"]
        for name, result in outcomes.items()
        if name != "prediction" and isinstance(result, dict) and "metrics" in result
    ]
    return f"{max(accuracies):.4f}" if accuracies else "-"
