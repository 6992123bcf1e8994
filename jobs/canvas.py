"""Building blocks every job's canvas shares: decode tasks and "after decoding"."""

from celery import chord, group

from catdog_queue.shared import task_names

# Options of every task: when its pool process dies (out of memory, a kill),
# Celery tries it again a second later, twice at most: three tries in all,
# then the task fails naming the crash (WorkerLostError), never an endless loop.
AFTER_A_CRASH = {"retry_on_worker_lost": True, "max_retries": 2, "default_retry_delay": 1}


def decode_task_id(job_id: str, shard_index: int) -> str:
    return f"{job_id}-decode-{shard_index}"


def decode_signatures(app, job_id: str, data_root: str, shards: list[dict]) -> list:
    """One decode task per shard that is not ``cached`` (see ``mark_cached``)."""
    return [
        app.signature(
            task_names.DECODE_SHARD,
            args=(job_id, data_root, shard),
            task_id=decode_task_id(job_id, shard["index"]),
        )
        for shard in shards
        if "cached" not in shard
    ]


def after_decoding(decode_tasks: list, body):
    """``body`` once every decode task is done: a chord, or ``body`` alone if none."""
    return chord(group(decode_tasks), body) if decode_tasks else body
