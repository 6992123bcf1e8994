"""``submit.py predict``: classify a folder of images with a trained model."""

import sys
import time
from pathlib import Path

from catdog_queue.client import predictions
from catdog_queue.client.commands.common import require_images, require_standing_cluster_for_detach
from catdog_queue.client.commands.submit_job import submit_and_follow
from catdog_queue.client.output import OutputFolder
from catdog_queue.client.session import new_job_id
from catdog_queue.jobs.records import DataPart, JobRecord, listing_summary
from catdog_queue.launch import planned_predict
from catdog_queue.shared import settings
from catdog_queue.shared.layout import DESCRIPTIONS, NAMES
from catdog_queue.shared.listing import list_images, plan_shards
from catdog_queue.shared.model_metadata import is_hdf5, read_metadata
from catdog_queue.shared.options import PredictOptions


def run_predict(args) -> int:
    """Plan, send and follow the job as ``catdog_queue.predict()`` does (``submit_job``)."""
    require_standing_cluster_for_detach(args)
    return submit_and_follow(args, planned_predict(args))


def model_uploader(model_bytes: bytes):
    """A ``prepare(session, record)`` for ``send_job``: the model goes to Redis, where the
    ``gpu`` worker reads it."""

    def put_model(session, record):
        name = record.prediction["model_name"]
        record.prediction["model_key"] = session.store.put_artifact(
            record.job_id, name, model_bytes
        )

    return put_model


def plan_predict(args) -> tuple[JobRecord, bytes]:
    metadata = read_metadata(args.model)
    listing = list_images(args.data)
    require_images(listing)
    shards = plan_shards(listing, args.shard_size, metadata["image_size"])
    job_id = new_job_id()
    options = PredictOptions(
        tuple(metadata["labels"]), metadata["image_size"], args.batch_size, args.tta
    )
    name = "input-model.h5" if is_hdf5(args.model) else "input-model.keras"
    root = args.worker_data_dir or str(listing.root)
    record = JobRecord(
        job_id,
        "predict",
        [DataPart("predict", root, listing_summary(listing), shards)],
        prediction={"model_name": name, "options": options.to_json()},
    )
    print(
        f"job {job_id}: {len(listing.files)} images in {len(shards)} shards,"
        f" model {args.model} ({', '.join(metadata['labels'])}, {metadata['image_size']} px)"
        + (f"; {DESCRIPTIONS[listing.layout]}" if listing.layout != NAMES else ""),
        file=sys.stderr,
    )
    return record, Path(args.model).read_bytes()


def output_path(out, job_id: str) -> Path:
    """``--out`` names the CSV; a folder (``fetch --out DIR``) gets ``predictions.csv``."""
    if out is None:
        return Path("runs") / job_id / "predictions.csv"
    out = Path(out)
    return out if out.suffix.lower() == ".csv" else out / "predictions.csv"


def log_dir(args, out: Path, job_id: str) -> Path:
    """Logs of a local cluster's processes: beside its shard cache."""
    cache_dir = Path(args.cache_dir) if getattr(args, "cache_dir", None) else None
    return (cache_dir or settings.default_cache_dir()) / "logs" / job_id


def collect_results(session, record, followed, out: Path, timings: dict, started: float) -> dict:
    result = followed.outcomes["prediction"]["result"]
    options = record.prediction["options"]
    # The folder the user named holds the CSV and the files beside it.
    summary = predictions.save_predictions(
        session.store, record.job_id, result, record.part("predict"), options["labels"],
        OutputFolder(out.parent), out.name,
    )  # fmt: skip
    return summary | {"seconds": time.perf_counter() - started}


def report(collected: dict, out: Path) -> int:
    predictions.print_summary(collected, out, collected["seconds"])
    return 0
