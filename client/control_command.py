"""Job control on a standing cluster: ``status``, ``jobs``, ``fetch`` and ``cancel``."""

import sys
import time
from contextlib import ExitStack
from pathlib import Path

from client.job_record import load_record, recent_job_ids
from client.options import UsageError
from client.session import connect
from client.train_command import follow_and_collect, print_results, task_ids
from jobs import train as train_job
from jobs import waiting
from shared import settings
from shared.job_state import JobState


def _session(args, stack):
    if not (args.broker or settings.broker_url()):
        raise UsageError(
            f"`submit.py {args.command}` needs a standing cluster: pass --broker URL or set"
            " CELERY_BROKER_URL (start one with `python submit.py cluster`)"
        )
    return connect(args, "control", Path("."), stack, {})


def job_status(session, record: dict) -> dict:
    """Phase (queued, decoding, training, done, failed, cancelled) and progress of a job."""
    job_id = record["job_id"]
    shards = record["shards"] + (record["predict"]["shards"] if record["predict"] else [])
    decoded = sum(
        session.app.AsyncResult(waiting.decode_task_id(job_id, shard["index"])).state == "SUCCESS"
        for shard in shards
    )
    training = session.app.AsyncResult(train_job.train_task_id(job_id))
    train_state, info = training.state, training.info
    state = JobState(session.store.redis, job_id, settings.artifact_ttl_seconds())
    stored = state.result()
    status = {"job_id": job_id, "kind": record["kind"], "decoded": f"{decoded}/{len(shards)}"}
    status["age_s"] = time.time() - record.get("created", time.time())
    if state.cancelled():
        return status | {"phase": "cancelled"}
    if stored is not None:
        return status | {"phase": "done", "accuracy": stored["metrics"]["test_accuracy"]}
    if train_state == "FAILURE":
        return status | {"phase": "failed", "error": waiting.describe(training.result)}
    if train_state == "TRAINING" and isinstance(info, dict):
        return status | {"phase": "training", "epoch": f"{info.get('epoch')}/{info.get('epochs')}"}
    if train_state not in ("PENDING",):
        return status | {"phase": train_state.lower()}
    return status | {"phase": "decoding" if decoded < len(shards) else "queued for training"}


def run_status(args) -> int:
    with ExitStack() as stack:
        session = _session(args, stack)
        record = load_record(session.store.redis, args.job_id)
        status = job_status(session, record)
        waiting.release_results(session.app, task_ids(record))
    for name, value in status.items():
        print(f"{name}: {round(value) if name == 'age_s' else value}")
    return 0


def run_jobs(args) -> int:
    with ExitStack() as stack:
        session = _session(args, stack)
        rows = []
        for job_id in recent_job_ids(session.store.redis, args.limit):
            try:
                record = load_record(session.store.redis, job_id)
            except LookupError:
                continue  # expired
            rows.append(job_status(session, record))
            waiting.release_results(session.app, task_ids(record))
    print(f"{'job':<24} {'kind':<6} {'state':<20} {'accuracy':>8} {'age':>8}")
    for row in rows:
        accuracy = f"{row['accuracy']:.4f}" if "accuracy" in row else "-"
        print(
            f"{row['job_id']:<24} {row['kind']:<6} {row['phase']:<20} {accuracy:>8}"
            f" {_age(row['age_s']):>8}"
        )
    return 0


def run_fetch(args) -> int:
    started = time.perf_counter()
    out_dir = Path(args.out or Path("runs") / args.job_id)
    with ExitStack() as stack:
        session = _session(args, stack)
        record = load_record(session.store.redis, args.job_id)
        metrics, predicted = follow_and_collect(session, stack, record, out_dir, {}, started)
    print_results(metrics, predicted, out_dir)
    return 0


def run_cancel(args) -> int:
    with ExitStack() as stack:
        session = _session(args, stack)
        record = load_record(session.store.redis, args.job_id)
        JobState(session.store.redis, args.job_id, settings.artifact_ttl_seconds()).cancel()
        # Queued tasks never start; a running training stops within a second.
        session.app.control.revoke(task_ids(record))
    print(f"job {args.job_id}: cancelled", file=sys.stderr)
    return 0


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
