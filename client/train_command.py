"""``submit.py train`` and ``resume``: decode on ``cpu`` workers, train on a ``gpu`` worker.

With ``--predict DIR`` the same job then classifies DIR with the new model.
"""

import sys
import time
from contextlib import ExitStack
from pathlib import Path

from client import collect, plots
from client.job_record import data_roots, listing_summary, load_record, save_record
from client.options import UsageError, image_size, training_options
from client.predict_command import print_summary, save_predictions
from client.progress import JobProgress
from client.session import connect, new_job_id
from client.upload import upload_missing_shards
from jobs import predict as predict_job
from jobs import train as train_job
from jobs import waiting
from jobs.waiting import JobFailed
from shared import settings
from shared.listing import (
    DataError,
    list_images,
    list_labelled_images,
    plan_shards,
    require_trainable,
)
from shared.shard_builder import mark_cached


def run_train(args) -> int:
    if args.detach and not (args.broker or settings.broker_url()):
        raise UsageError(
            "--detach needs a standing cluster to run the job: pass --broker URL"
            " (start one with `python submit.py cluster`)"
        )
    started = time.perf_counter()
    record = plan_train(args)
    timings = {"list_s": time.perf_counter() - started}
    out_dir = Path(args.out or Path("runs") / record["job_id"])
    with ExitStack() as stack:
        session = connect(
            args, record["job_id"], out_dir / "logs", stack, timings, data_roots(record)
        )
        if args.upload:
            upload(session, record)
        save_record(session.store, record)
        submit(session, record)
        if args.detach:
            print_detached(record["job_id"])
            return 0
        try:
            metrics, predicted = follow_and_collect(
                session, stack, record, out_dir, timings, started
            )
        except JobFailed as failure:
            if "DataFolderMissing" not in str(failure) or args.upload:
                raise
            # The workers cannot see the files: send them through Redis and try again.
            print(f"{str(failure).split(': ', 2)[-1]}: uploading", file=sys.stderr)
            _forget_failed_attempt(session, record)
            upload(session, record)
            save_record(session.store, record)
            submit(session, record)
            metrics, predicted = follow_and_collect(
                session, stack, record, out_dir, timings, started
            )
    print_results(metrics, predicted, out_dir)
    return 0


def upload(session, record: dict) -> None:
    """Put the raw bytes of every uncached shard in Redis (``--upload``)."""
    progress = JobProgress()
    parts = [(record["listing"]["root"], record["shards"])]
    if record["predict"]:
        parts.append((record["predict"]["listing"]["root"], record["predict"]["shards"]))
    for root, shards in parts:
        count = upload_missing_shards(session.store, Path(root), shards, progress.uploaded)
        print(f"uploaded {count} of {len(shards)} shards from {root}", file=sys.stderr)
    progress.close()


def _forget_failed_attempt(session, record: dict, timeout_s: float = 30.0) -> None:
    """Wait for the failed chord to settle, then clear its task states for a new attempt."""
    training = session.app.AsyncResult(train_job.train_task_id(record["job_id"]))
    deadline = time.monotonic() + timeout_s
    while training.state not in ("FAILURE", "SUCCESS") and time.monotonic() < deadline:
        time.sleep(0.2)
    for task_id in task_ids(record):
        session.app.AsyncResult(task_id).forget()


def run_resume(args) -> int:
    started = time.perf_counter()
    out_dir = Path(args.out or Path("runs") / args.job_id)
    timings = {}
    with ExitStack() as stack:
        roots = lambda redis_client: data_roots(load_record(redis_client, args.job_id))  # noqa: E731
        session = connect(args, args.job_id, out_dir / "logs", stack, timings, roots)
        record = load_record(session.store.redis, args.job_id)
        print(f"job {args.job_id}: resuming", file=sys.stderr)
        submit(session, record)
        metrics, predicted = follow_and_collect(session, stack, record, out_dir, timings, started)
    print_results(metrics, predicted, out_dir)
    return 0


def plan_train(args) -> dict:
    """List the folders, cut shards, fill in options: everything the job will do."""
    listing = list_labelled_images(args.data)
    require_trainable(listing)
    shards = plan_shards(listing, args.shard_size, image_size(args))
    job_id = new_job_id()
    record = {
        "job_id": job_id,
        "kind": "train",
        "data_root": args.worker_data_dir or str(listing.root),
        "shards": shards,
        "options": training_options(args, listing.labels, args.optimizer, args.learning_rate),
        "listing": listing_summary(listing),
        "predict": None,
    }
    if args.predict:
        predict_listing = list_images(args.predict)
        if not predict_listing.files:
            raise DataError(f"no image files (.jpg, .jpeg, .png) under {predict_listing.root}")
        record["predict"] = {
            "data_root": str(predict_listing.root),
            "shards": plan_shards(predict_listing, args.shard_size, image_size(args), len(shards)),
            "listing": listing_summary(predict_listing),
        }
    print(
        f"job {job_id}: {listing.total} files, {len(listing.files)} images of labels"
        f" {', '.join(listing.labels)} in {len(shards)} shards",
        file=sys.stderr,
    )
    return record


def submit(session, record: dict) -> None:
    """Send the job's tasks (again, for ``resume``: they are idempotent).

    Shards already in the cache get no decode task at all.
    """
    predict = record["predict"] or {"data_root": None, "shards": []}
    mark_cached(session.store, record["shards"] + predict["shards"])
    train_job.build_canvas(
        session.app, record["job_id"], record["data_root"], record["shards"],
        record["options"], predict["shards"], predict["data_root"],
    ).apply_async()  # fmt: skip


def print_detached(job_id: str) -> None:
    print(f"job {job_id} submitted")
    print(f"  python submit.py status {job_id}      # phase and progress")
    print(f"  python submit.py fetch {job_id} --out runs/{job_id}   # results, once done")


def task_ids(record: dict) -> list[str]:
    job_id = record["job_id"]
    predict_shards = record["predict"]["shards"] if record["predict"] else []
    ids = [waiting.decode_task_id(job_id, s["index"]) for s in record["shards"] + predict_shards]
    return [*ids, train_job.train_task_id(job_id), predict_job.predict_task_id(job_id)]


def follow_and_collect(session, stack, record, out_dir: Path, timings: dict, started: float):
    """Follow the job's tasks with progress bars; collect the results into ``out_dir``."""
    job_id, shards, options = record["job_id"], record["shards"], record["options"]
    predict = record["predict"] or {"data_root": None, "shards": []}
    all_shards = shards + predict["shards"]
    session.forget_on_exit(stack, task_ids(record))
    progress = JobProgress()
    stack.callback(progress.close)

    phase_started = time.perf_counter()
    summaries = waiting.wait_for_decode(
        session.app, job_id, all_shards, progress.decode, session.watch
    )[: len(shards)]
    timings["decode_s"] = time.perf_counter() - phase_started
    outcome = session.wait(train_job.train_task_id(job_id), "training", "gpu", progress)

    phase_started = time.perf_counter()
    metrics = collect_training(
        session.store, job_id, options, record["listing"], summaries, outcome, out_dir
    )
    timings["collect_s"] = time.perf_counter() - phase_started
    predicted = None
    if predict["shards"]:
        result = session.wait(predict_job.predict_task_id(job_id), "prediction", "gpu", progress)
        predicted = save_predictions(
            session.store,
            result,
            predict["listing"],
            options["labels"],
            out_dir / "predictions.csv",
        )
        timings["predict_s"] = result["timings"]["predict_s"]
    timings["total_s"] = time.perf_counter() - started
    metrics["timings"] = timings | outcome["metrics"]["timings"]
    collect.save_metrics(metrics, out_dir)
    return metrics, predicted


def collect_training(store, job_id, options, listing: dict, summaries, result, out_dir: Path):
    """A training task's models and history plot into ``out_dir``; returns its metrics.

    The caller adds the timings it knows and saves ``metrics.json``.
    """
    collect.save_artifacts(store, result["artifacts"], out_dir)
    metrics = job_metrics(job_id, options, listing, summaries, result["metrics"])
    title = f"{job_id}: {options['model']}, {options['optimizer']}"
    plots.plot_history(metrics["history"], out_dir, title)
    return metrics


def job_metrics(job_id, options, listing: dict, summaries, worker_metrics) -> dict:
    decode_rejected = [item for summary in summaries for item in summary["rejected"]]
    metrics = {"job_id": job_id, "data_dir": listing["root"]} | options
    metrics |= {
        "images_total": listing["total"],
        "images_rejected": listing["rejected"] + decode_rejected,
        "shards": {
            "count": len(summaries),
            "bytes": sum(summary["bytes"] for summary in summaries),
            "reused": sum(1 for summary in summaries if summary["reused"]),
        },
    }
    metrics |= {name: value for name, value in worker_metrics.items() if name != "timings"}
    return metrics


def print_results(metrics: dict, predicted: dict | None, out_dir: Path) -> None:
    resumed = metrics.get("resumed_from_epoch")
    print(
        f"job {metrics['job_id']}: held-out accuracy {metrics['test_accuracy']:.4f}"
        f" (loss {metrics['test_loss']:.4f}) on {metrics['test_images']} images,"
        f" train accuracy {metrics['train_accuracy']:.4f};"
        f" {metrics['images_used']} used, {len(metrics['images_rejected'])} rejected;"
        f" {metrics['epochs_run']} epochs in {metrics['timings']['train_s']:.1f}s"
        + (f" (resumed after epoch {resumed})" if resumed is not None else "")
        + f" on {metrics['device']}; results in {out_dir}/"
    )
    if predicted is not None:
        seconds = metrics["timings"]["predict_s"]
        print_summary(predicted, out_dir / "predictions.csv", seconds, "in the gpu task")
