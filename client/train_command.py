"""``submit.py train``: list, decode on ``cpu`` workers, train on a ``gpu`` worker, collect.

With ``--predict DIR`` the same job then classifies DIR with the new model.
"""

import sys
import time
from contextlib import ExitStack
from pathlib import Path

from client import collect
from client.options import image_size, training_options
from client.predict_command import print_summary, save_predictions
from client.progress import JobProgress
from client.session import connect, new_job_id
from jobs import predict as predict_job
from jobs import train as train_job
from jobs import waiting
from shared.listing import (
    DataError,
    list_images,
    list_labelled_images,
    plan_shards,
    require_trainable,
)


def run_train(args) -> int:
    started = time.perf_counter()
    timings = {}
    listing = list_labelled_images(args.data)
    require_trainable(listing)
    shards = plan_shards(listing, args.shard_size, image_size(args))
    predict_listing, predict_shards = _plan_predictions(args, first_index=len(shards))
    timings["list_s"] = time.perf_counter() - started

    job_id = new_job_id()
    out_dir = Path(args.out or Path("runs") / job_id)
    options = training_options(args, listing.labels, args.optimizer, args.learning_rate)
    print(
        f"job {job_id}: {listing.total} files, {len(listing.files)} images of labels"
        f" {', '.join(listing.labels)} in {len(shards)} shards",
        file=sys.stderr,
    )
    with ExitStack() as stack:
        session = connect(args, job_id, out_dir / "logs", stack, timings)
        all_shards = shards + predict_shards
        task_ids = [waiting.decode_task_id(job_id, shard["index"]) for shard in all_shards]
        task_ids += [train_job.train_task_id(job_id), predict_job.predict_task_id(job_id)]
        session.forget_on_exit(stack, task_ids)
        progress = JobProgress()
        stack.callback(progress.close)

        phase_started = time.perf_counter()
        predict_root = str(predict_listing.root) if predict_listing else None
        train_job.build_canvas(
            session.app,
            job_id,
            args.worker_data_dir or str(listing.root),
            shards,
            options,
            predict_shards,
            predict_root,
        ).apply_async()
        summaries = waiting.wait_for_decode(
            session.app, job_id, all_shards, progress.decode, session.check_health
        )[: len(shards)]
        timings["decode_s"] = time.perf_counter() - phase_started
        outcome = waiting.wait_for_task(
            session.app.AsyncResult(train_job.train_task_id(job_id)),
            "training",
            progress.phase,
            progress.task_progress,
            session.check_health,
        )
        progress.close()
        phase_started = time.perf_counter()
        metrics = _collect_training(
            session.store, job_id, options, listing, summaries, outcome, out_dir
        )
        timings["collect_s"] = time.perf_counter() - phase_started
        if predict_shards:
            predicted = waiting.wait_for_task(
                session.app.AsyncResult(predict_job.predict_task_id(job_id)),
                "prediction",
                progress.phase,
                progress.task_progress,
                session.check_health,
            )
            progress.close()
            prediction_summary = save_predictions(
                session.store,
                predicted,
                predict_listing,
                listing.labels,
                out_dir / "predictions.csv",
            )
            timings["predict_s"] = predicted["timings"]["predict_s"]
        timings["total_s"] = time.perf_counter() - started
        metrics["timings"] = timings | outcome["metrics"]["timings"]
        collect.save_metrics(metrics, out_dir)
    _print_summary(metrics, out_dir)
    if predict_shards:
        csv_path = out_dir / "predictions.csv"
        print_summary(prediction_summary, csv_path, timings["predict_s"], "in the gpu task")
    return 0


def _plan_predictions(args, first_index: int):
    if not args.predict:
        return None, []
    listing = list_images(args.predict)
    if not listing.files:
        raise DataError(f"no image files (.jpg, .jpeg, .png) under {listing.root}")
    return listing, plan_shards(listing, args.shard_size, image_size(args), first_index)


def _collect_training(store, job_id, options, listing, summaries, outcome, out_dir) -> dict:
    collect.save_artifacts(store, outcome["artifacts"], out_dir)
    metrics = job_metrics(job_id, options, listing, summaries, outcome["metrics"])
    title = f"{job_id}: {options['model']}, {options['optimizer']}"
    collect.plot_history(metrics["history"], out_dir, title)
    return metrics


def job_metrics(job_id, options, listing, summaries, worker_metrics) -> dict:
    decode_rejected = [item for summary in summaries for item in summary["rejected"]]
    metrics = {"job_id": job_id, "data_dir": str(listing.root)} | options
    metrics |= {
        "images_total": listing.total,
        "images_rejected": listing.rejected + decode_rejected,
        "shards": {
            "count": len(summaries),
            "bytes": sum(summary["bytes"] for summary in summaries),
            "reused": sum(1 for summary in summaries if summary["reused"]),
        },
    }
    metrics |= {name: value for name, value in worker_metrics.items() if name != "timings"}
    return metrics


def _print_summary(metrics: dict, out_dir: Path) -> None:
    print(
        f"job {metrics['job_id']}: held-out accuracy {metrics['test_accuracy']:.4f}"
        f" (loss {metrics['test_loss']:.4f}) on {metrics['test_images']} images,"
        f" train accuracy {metrics['train_accuracy']:.4f};"
        f" {metrics['images_used']} used, {len(metrics['images_rejected'])} rejected;"
        f" {metrics['epochs']} epochs in {metrics['timings']['train_s']:.1f}s"
        f" on {metrics['device']}; results in {out_dir}/"
    )
