"""One submit-and-follow flow for every job kind: train, compare and predict.

``submit`` sends a job (checking the shard cache first, uploading files when
the workers cannot see them, saving the job's record); ``follow`` waits for
its decoding and then its long tasks, with progress; each kind's command
module collects the results into the output folder. A new job goes through
the Python API's ``Job`` handle, from a notebook or from ``submit.py``
(``client.commands.submit_job``); ``status``, ``fetch``, ``cancel`` and
``resume`` reuse the same pieces on a record read back from Redis.
"""

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from catdog_queue.client import follow as following
from catdog_queue.client.follow import JobFailed, release_results
from catdog_queue.client.progress import JobProgress
from catdog_queue.client.upload import upload_missing_shards
from catdog_queue.jobs import kinds
from catdog_queue.jobs.records import save_record
from catdog_queue.shared.shard_builder import mark_cached
from catdog_queue.shared.shards import UPLOADS_GONE
from catdog_queue.shared.waiting import wait_until


@dataclass
class Followed:
    """What following a job found: decode summaries per part, and each long task's outcome."""

    summaries: dict  # {part role: [shard summary, ...]}
    outcomes: dict  # {task name: {"state": "SUCCESS", "result": ...} or FAILURE + "error"}


def data_roots(record) -> list[str]:
    """The folders the job's workers read (a local cluster's CATDOG_DATA_ROOT)."""
    return [part.listing["root"] for part in record.parts]


def submit(session, record, upload: bool = False) -> None:
    """Send the job's tasks (again, for ``resume``: they are idempotent).

    Shards already in the cache get no decode task; the record is saved with
    that knowledge, so ``status`` and ``fetch`` never wait for tasks that were
    not sent. Earlier states of the same task ids (``resume``) are forgotten
    first, so an old failure is not reported as the new outcome.
    """
    for task_id in kinds.all_task_ids(record):
        session.app.AsyncResult(task_id).forget()
    mark_cached(session.store, record.shards)
    record.upload = record.upload or upload
    if record.upload:
        _upload(session, record)
    save_record(session.store, record)
    kinds.build_canvas(session.app, record).apply_async()
    # The client polls task states; it needs none of the result subscriptions
    # that sending made (left open, they talk to Redis at interpreter exit).
    release_results(session.app, kinds.all_task_ids(record))


def _upload(session, record) -> None:
    """Put the raw bytes of every uncached shard in Redis (``--upload``)."""
    progress = JobProgress()
    for part in record.parts:
        shards = [shard for shard in part.shards if "cached" not in shard]
        root = Path(part.listing["root"])
        count = upload_missing_shards(session.store, root, shards, progress.uploaded)
        print(f"uploaded {count} of {len(part.shards)} shards from {root}", file=sys.stderr)
    progress.close()


def follow(session, stack, record, timings: dict, progress_class=JobProgress) -> Followed:
    """Wait for the job's decoding, then for its long tasks; progress on stderr.

    Workers that cannot see the data folder make the client upload the
    files and send the job again, once. ``progress_class`` draws the bars
    (the Python API passes one that draws notebook widgets in Jupyter).
    """
    session.forget_on_exit(stack, kinds.all_task_ids(record))
    try:
        return _follow(session, stack, record, timings, progress_class)
    except JobFailed as failure:
        if not _upload_would_help(record, str(failure)):
            raise
        print(f"{str(failure).split(': ', 2)[-1]}: uploading", file=sys.stderr)
        _settle(session, record)
        submit(session, record, upload=True)
        return _follow(session, stack, record, timings, progress_class)


def _upload_would_help(record, failure: str) -> bool:
    """Workers that cannot see the files, or uploaded files that Redis lost."""
    if "DataFolderMissing" in failure and not record.upload:
        return True
    return record.upload and UPLOADS_GONE in failure


def _follow(session, stack, record, timings, progress_class) -> Followed:
    progress = progress_class(several_runs=record.kind == "compare")
    stack.callback(progress.close)
    started = time.perf_counter()
    decoded = following.wait_for_decode(
        session.app, record.job_id, record.shards, progress.decode, session.watch
    )
    timings["decode_s"] = time.perf_counter() - started
    summaries, offset = {}, 0
    for part in record.parts:
        summaries[part.role] = decoded[offset : offset + len(part.shards)]
        offset += len(part.shards)
    tasks = kinds.followed_tasks(record)
    if record.kind == "compare":  # runs train side by side; one failing fails alone
        results = {name: session.app.AsyncResult(task_id) for name, task_id in tasks.items()}
        outcomes = following.wait_for_tasks(
            results, progress.task_state, progress.task_progress, session.watch,
            job_id=record.job_id,
        )  # fmt: skip
    else:  # a chain: a task that failed means the next one never starts
        outcomes = {}
        for name, task_id in tasks.items():
            results = {name: session.app.AsyncResult(task_id)}
            outcomes |= following.wait_for_tasks(
                results, progress.task_state, progress.task_progress, session.watch,
                job_id=record.job_id,
            )  # fmt: skip
            if outcomes[name]["state"] != "SUCCESS":
                raise JobFailed(f"{name} failed: {outcomes[name]['error']}")
    progress.close()
    return Followed(summaries, outcomes)


def _settle(session, record, timeout_s: float = 30.0) -> None:
    """Wait until a failed attempt's last task has failed too, so resending is clean."""
    last = list(kinds.followed_tasks(record).values())[-1]
    result = session.app.AsyncResult(last)
    # Past the bound the job is sent again all the same: its tasks are idempotent.
    wait_until(lambda: result.state in ("FAILURE", "SUCCESS"), timeout_s, interval_s=0.2)


def print_detached(job_id: str) -> None:
    print(f"job {job_id} submitted")
    print(f"  python submit.py status {job_id}      # phase and progress")
    print(f"  python submit.py fetch {job_id} --out runs/{job_id}   # results, once done")


def send_job(session, args, record, prepare=None) -> None:
    """What the command line and the Python API do once connected: prepare, then submit."""
    if prepare is not None:
        prepare(session, record)
    submit(session, record, upload=getattr(args, "upload", False))


def require_writable(folder: Path) -> None:
    from catdog_queue.client.commands.common import UsageError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write results into {folder}: {error.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write results into {folder}: permission denied")
