"""Fetch a job's shards for the GPU worker, decoding again any that Redis lost.

The files are the source of truth: a shard can vanish (Redis restarted without
persistence, expired, evicted) between decoding and training. Then exactly the
missing shards go back to the ``cpu`` queue, and training never runs on a
silently partial data set.
"""

import logging
import time

from celery import group

from shared.shards import ShardMissing, assemble
from workers.app import app
from workers.store import store

logger = logging.getLogger(__name__)
REDECODE_TIMEOUT_S = 3600


def assemble_shards(task, job_id: str, data_root: str, shards: list[dict]):
    """Returns (pixels, paths, {"rejected", "redecoded", "seconds"})."""
    task.update_state(state="ASSEMBLING", meta={"shards": len(shards)})
    started = time.perf_counter()
    keys = [shard["key"] for shard in shards]
    try:
        blobs = store().get_many(keys)
        redecoded = 0
    except ShardMissing as missing:
        lost = [shard for shard in shards if shard["key"] in set(missing.args[0])]
        logger.warning("job %s: %d shards missing from Redis, decoding again", job_id, len(lost))
        task.update_state(state="REDECODING", meta={"shards": len(lost)})
        _decode_again(job_id, data_root, lost)
        blobs = store().get_many(keys)  # still missing now: fail loudly
        redecoded = len(lost)
    pixels, paths, rejected = assemble(blobs)
    seconds = time.perf_counter() - started
    logger.info("job %s: assembled %d images in %.2fs", job_id, len(paths), seconds)
    return pixels, paths, {"rejected": rejected, "redecoded": redecoded, "seconds": seconds}


def _decode_again(job_id: str, data_root: str, shards: list[dict]) -> None:
    decoding = group(
        app.signature("catdog.decode_shard", args=(job_id, data_root, shard)) for shard in shards
    ).apply_async()
    # Waiting inside a task is safe here: the subtasks run on the cpu queue,
    # never on this worker.
    decoding.get(timeout=REDECODE_TIMEOUT_S, disable_sync_subtasks=False)
