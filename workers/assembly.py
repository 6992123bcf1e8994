"""Find a job's shards for the GPU worker, decoding again any that Redis lost.

The files are the source of truth: a shard can vanish (Redis restarted without
persistence, expired, evicted) between decoding and training. Then exactly the
missing shards go back to the ``cpu`` queue, and training never runs on a
silently partial data set. Only the shards' headers are read here (GETRANGE,
no pixels): the catalogue they make says where every image is, and training
then reads the pixels shard by shard, in memory or streaming.
"""

import logging
import time

from celery import group

from catdog_queue.shared import task_names
from catdog_queue.shared.shards import ShardMissing
from catdog_queue.workers.app import app
from catdog_queue.workers.store import store

logger = logging.getLogger(__name__)
REDECODE_TIMEOUT_S = 3600


def shard_catalogue(task, job_id: str, data_root: str, shards: list[dict]):
    """Returns (``ShardCatalogue``, {"redecoded", "seconds"})."""
    from catdog_queue.training.catalogue import (
        ShardCatalogue,  # the GPU side: only its pool imports it
    )

    task.update_state(state="ASSEMBLING", meta={"shards": len(shards)})
    started = time.perf_counter()
    keys = [shard["key"] for shard in shards]
    headers = store().cached_headers(keys)  # refreshes every time-to-live too
    lost = [shard for shard in shards if shard["key"] not in headers]
    if lost:
        logger.warning("job %s: %d shards missing from Redis, decoding again", job_id, len(lost))
        task.update_state(state="REDECODING", meta={"shards": len(lost)})
        _decode_again(job_id, data_root, lost)
        headers = store().cached_headers(keys)
        still_missing = [key for key in keys if key not in headers]
        if still_missing:
            raise ShardMissing(still_missing)
    catalogue = ShardCatalogue.from_headers(keys, headers)
    seconds = time.perf_counter() - started
    logger.info(
        "job %s: assembled the catalogue of %d images in %d shards (%.1f MiB of pixels)"
        " from their headers in %.2fs",
        job_id,
        len(catalogue.paths),
        len(keys),
        catalogue.pixel_bytes / 2**20,
        seconds,
    )
    return catalogue, {"redecoded": len(lost), "seconds": seconds}


def fetch_shard(key: str):
    """``(header, pixels)`` of one shard: what training and prediction read, shard by shard."""
    return store().get_shard(key)


def _decode_again(job_id: str, data_root: str, shards: list[dict]) -> None:
    decoding = group(
        app.signature(task_names.DECODE_SHARD, args=(job_id, data_root, shard)) for shard in shards
    ).apply_async()
    # Waiting inside a task is safe here: the subtasks run on the cpu queue,
    # never on this worker.
    decoding.get(timeout=REDECODE_TIMEOUT_S, disable_sync_subtasks=False)
