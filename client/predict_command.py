"""``submit.py predict``: classify a folder of images with a trained model."""

import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from client import predictions
from client.job_record import listing_summary
from client.progress import JobProgress
from client.session import connect, new_job_id
from jobs import predict as predict_job
from jobs import waiting
from shared import settings
from shared.listing import DataError, label_of, list_images, plan_shards
from shared.model_metadata import is_hdf5, read_metadata


def run_predict(args) -> int:
    started = time.perf_counter()
    metadata = read_metadata(args.model)
    listing = list_images(args.data)
    if not listing.files:
        raise DataError(f"no image files (.jpg, .jpeg, .png) under {listing.root}")
    shards = plan_shards(listing, args.shard_size, metadata["image_size"])
    job_id = new_job_id()
    csv_path = Path(args.out)
    print(
        f"job {job_id}: {len(listing.files)} images in {len(shards)} shards,"
        f" model {args.model} ({', '.join(metadata['labels'])}, {metadata['image_size']} px)",
        file=sys.stderr,
    )
    timings = {}
    with ExitStack() as stack:
        log_dir = local_log_dir(args, job_id)
        session = connect(args, job_id, log_dir, stack, timings, [listing.root])
        model_name = "input-model.h5" if is_hdf5(args.model) else "input-model.keras"
        model_key = session.store.put_artifact(job_id, model_name, Path(args.model).read_bytes())
        task_ids = [waiting.decode_task_id(job_id, s["index"]) for s in shards]
        session.forget_on_exit(stack, [*task_ids, predict_job.predict_task_id(job_id)])
        options = {"batch_size": args.batch_size, "labels": metadata["labels"]}
        root = args.worker_data_dir or str(listing.root)
        predict_job.build_canvas(
            session.app, job_id, root, shards, model_key, options
        ).apply_async()
        progress = JobProgress()
        stack.callback(progress.close)
        waiting.wait_for_decode(session.app, job_id, shards, progress.decode, session.watch)
        outcome = session.wait(predict_job.predict_task_id(job_id), "prediction", "gpu", progress)
        summary = save_predictions(
            session.store, outcome, listing_summary(listing), metadata["labels"], csv_path
        )
    print_summary(summary, csv_path, time.perf_counter() - started)
    return 0


def local_log_dir(args, job_id: str) -> Path:
    """Logs of a local cluster's processes: beside its shard cache."""
    cache_dir = Path(args.cache_dir) if args.cache_dir else settings.default_cache_dir()
    return cache_dir / "logs" / job_id


def save_predictions(store, outcome: dict, listing: dict, labels: list[str], csv_path: Path):
    """CSV, rejected files and contact sheet beside it; returns counts and accuracy."""
    table = json.loads(store.get_artifact(outcome["predictions"]))
    rows = predictions.prediction_rows(table["paths"], table["probabilities"])
    rejected = listing["rejected"] + outcome["rejected"]
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    predictions.write_csv(rows, csv_path)
    predictions.write_rejected(rejected, csv_path.with_suffix(".rejected.json"))
    if rows:
        sheet = csv_path.with_suffix(".png")
        predictions.contact_sheet(Path(listing["root"]), rows, labels, sheet)
    return {
        "rows": len(rows),
        "rejected": rejected,
        "accuracy": predictions.accuracy_against_names(rows, labels, label_of),
        "last_label": labels[-1],
    }


def print_summary(summary: dict, csv_path: Path, seconds: float, what="in all") -> None:
    accuracy = summary["accuracy"]
    scored = "" if accuracy is None else f"; accuracy against file names {accuracy:.4f}"
    print(
        f"predicted {summary['rows']} images, {seconds:.1f}s {what}"
        f" ({summary['rows'] / max(seconds, 1e-9):.0f} images/s),"
        f" {len(summary['rejected'])} rejected{scored};"
        f" {csv_path} (label = probability of {summary['last_label']!r})"
    )
    for item in summary["rejected"][:10]:
        print(f"  rejected {item['path']}: {item['reason']}")
    if len(summary["rejected"]) > 10:
        print(f"  ... see {csv_path.with_suffix('.rejected.json')}")
