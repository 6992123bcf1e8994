"""Building blocks every job's canvas shares: decode tasks and "after decoding"."""

from celery import chord, group

# Every task Celery retries after its process died (out of memory, a kill):
# two retries, so at most three tries, then the task fails naming the crash.
MAX_RETRIES_AFTER_CRASH = 2


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
