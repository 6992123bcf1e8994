"""``submit.py train``: decode on ``cpu`` workers, train on a ``gpu`` worker, collect.

With ``--predict DIR`` the same job then classifies DIR with the new model.
"""

import sys
import time
from pathlib import Path

from catdog_queue.client import collect, predictions
from catdog_queue.client.commands.common import (
    require_images,
    require_standing_cluster_for_detach,
    training_options,
)
from catdog_queue.client.commands.submit_job import submit_and_follow
from catdog_queue.client.output import OutputFolder
from catdog_queue.client.session import new_job_id
from catdog_queue.jobs.records import DataPart, JobRecord, listing_summary
from catdog_queue.launch import planned_train
from catdog_queue.shared.layout import DESCRIPTIONS
from catdog_queue.shared.listing import (
    list_images,
    list_labelled_images,
    plan_shards,
    require_trainable,
)
from catdog_queue.shared.options import PredictOptions


def run_train(args) -> int:
    """Plan, send and follow the job as ``catdog_queue.train()`` does (``submit_job``)."""
    require_standing_cluster_for_detach(args)
    return submit_and_follow(args, planned_train(args))


def plan_train(args) -> JobRecord:
    """List the folders, cut shards, fill in options: everything the job will do."""
    listing = list_labelled_images(args.data)
    require_trainable(listing)
    options = training_options(
        args, listing.labels, args.optimizer, args.learning_rate, listing.layout
    )
    shards = plan_shards(listing, args.shard_size, options.image_size)
    job_id = new_job_id()
    root = args.worker_data_dir or str(listing.root)
    parts = [DataPart("train", root, listing_summary(listing), shards)]
    prediction = None
    if args.predict:
        predict_listing = list_images(args.predict)
        require_images(predict_listing)
        predict_shards = plan_shards(
            predict_listing, args.shard_size, options.image_size, len(shards)
        )
        parts.append(
            DataPart(
                "predict",
                str(predict_listing.root),
                listing_summary(predict_listing),
                predict_shards,
            )
        )
        predict_options = PredictOptions(
            options.labels, options.image_size, options.batch_size, options.tta
        )
        prediction = {"options": predict_options.to_json()}
    print(
        f"job {job_id}: {listing.total} files, {len(listing.files)} images of labels"
        f" {', '.join(listing.labels)} ({DESCRIPTIONS[listing.layout]}) in {len(shards)} shards",
        file=sys.stderr,
    )
    return JobRecord(job_id, "train", parts, options=options.to_json(), prediction=prediction)


def output_path(out, job_id: str) -> Path:
    return Path(out or Path("runs") / job_id)


def log_dir(args, out: Path, job_id: str) -> Path:
    return out / "logs"


def collect_results(session, record, followed, out: Path, timings: dict, started: float) -> dict:
    """Models, plot and metrics into ``out``; the predictions too, if the job made them."""
    output = OutputFolder(out)
    outcome = followed.outcomes["training"]["result"]
    collect_started = time.perf_counter()
    metrics = collect.collect_training(
        session.store, record.job_id, record, record.options, followed.summaries["train"],
        outcome, output,
    )  # fmt: skip
    timings["collect_s"] = time.perf_counter() - collect_started
    predicted = None
    if "prediction" in followed.outcomes:
        result = followed.outcomes["prediction"]["result"]
        predicted = predictions.save_predictions(
            session.store, record.job_id, result, record.part("predict"), record.options["labels"],
            output, "predictions.csv",
        )  # fmt: skip
        timings["predict_s"] = result["timings"]["predict_s"]
    timings["total_s"] = time.perf_counter() - started
    metrics["timings"] = timings | outcome["metrics"]["timings"]
    collect.save_metrics(metrics, output)
    return {"metrics": metrics, "predicted": predicted}


def report(collected: dict, out: Path) -> int:
    metrics, predicted = collected["metrics"], collected["predicted"]
    resumed = metrics.get("resumed_from_epoch")
    print(
        f"job {metrics['job_id']}: held-out accuracy {metrics['test_accuracy']:.4f}"
        + (" (with --tta flip)" if metrics["tta"] == "flip" else "")
        + f" (loss {metrics['test_loss']:.4f}) on {metrics['test_images']} images,"
        f" train accuracy {metrics['train_accuracy']:.4f};"
        f" {metrics['images_used']} used, {len(metrics['images_rejected'])} rejected;"
        f" {metrics['epochs_run']} epochs in {metrics['timings']['train_s']:.1f}s"
        + (f" (resumed after epoch {resumed})" if resumed is not None else "")
        + f" on {metrics['device']}; results in {out}/"
        + (
            f"; WARNING: {' '.join(warning_sentences(metrics['warnings']))}"
            if metrics["warnings"]
            else ""
        )
    )
    if predicted is not None:
        seconds = metrics["timings"]["predict_s"]
        predictions.print_summary(predicted, out / "predictions.csv", seconds, "in the gpu task")
    return 0


def warning_sentences(warnings: list[str]) -> list[str]:
    """Each warning as a sentence, for one line of output."""
    return [text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".") for text in warnings]
