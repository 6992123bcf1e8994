"""Tasks for the ``cpu`` queue: decode image files into shards in Redis."""

import logging
import time

from catdog_queue.jobs.canvas import AFTER_A_CRASH
from catdog_queue.shared import settings, task_names
from catdog_queue.shared.data_access import require_allowed_root, require_visible
from catdog_queue.shared.shard_builder import build_shard
from catdog_queue.shared.task_arguments import check_data_root, check_job_id, check_shard
from catdog_queue.workers.app import app
from catdog_queue.workers.crash_guard import CrashGuard
from catdog_queue.workers.store import store

logger = logging.getLogger(__name__)


@app.task(
    name=task_names.DECODE_SHARD,
    bind=True,
    **AFTER_A_CRASH,
)
def decode_shard(self, job_id: str, data_root: str, shard: dict) -> dict:
    """Decode one shard's files (or reuse the cached shard); return counts, not pixels."""
    started = time.perf_counter()
    # The message may come from anyone: nothing is opened or allocated before this.
    check_job_id(job_id)
    check_data_root(data_root)
    check_shard(shard, settings.shard_max_bytes())
    uploaded = shard.get("uploaded")
    if not uploaded:  # uploaded bytes come from Redis, not this disk
        require_visible(data_root)
        require_allowed_root(data_root, settings.data_roots())

    def report(done, total):
        meta = {"done": done, "total": total, "worker": self.request.hostname}
        self.update_state(state="DECODING", meta=meta)

    # A retry follows a try whose process died: find and reject the file that killed it.
    guard = CrashGuard(store().redis, shard["key"]) if self.request.retries else None
    # A file this worker cannot read (FileUnreadable) fails the task: nothing is cached.
    summary = build_shard(
        shard,
        data_root,
        store(),
        settings.max_image_pixels(),
        report,
        allowed_roots=None if uploaded else settings.data_roots(),
        max_decode_bytes=settings.max_decode_bytes(),
        max_file_bytes=settings.max_file_bytes(),
        before_each=guard.before_each if guard else None,
    )
    if guard is not None:
        guard.done()
    logger.info(
        "job %s shard %d: %d images, %d rejected, %s in %.2fs",
        job_id,
        shard["index"],
        summary["used"],
        len(summary["rejected"]),
        "reused" if summary["reused"] else "decoded",
        time.perf_counter() - started,
    )
    return summary
