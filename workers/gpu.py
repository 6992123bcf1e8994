"""Tasks for the ``gpu`` queue: assemble shards, then train or predict.

Run this worker as one process (``--pool solo -c 1``): TensorFlow is not
fork-safe, and one process owns the GPU. Keras is imported lazily so that
CPU workers, which load this module too, never import TensorFlow.
"""

import json
import logging
import os
import tempfile
import time

from celery.signals import worker_init

from shared.shards import assemble
from workers.app import app
from workers.cpu import store

logger = logging.getLogger(__name__)


@worker_init.connect
def import_tensorflow_early(sender, **_):
    """On the GPU worker, import TensorFlow at start-up, while CPU workers decode."""
    if "gpu" not in sender.app.amqp.queues.consume_from:
        return
    started = time.perf_counter()
    from shared import devices, prediction, training  # noqa: F401  (the import is the point)

    devices.configure_devices()
    seconds = time.perf_counter() - started
    logger.info("TensorFlow ready in %.1fs on %s", seconds, devices.describe_device())


def assemble_shards(task, job_id: str, shard_keys: list[str]):
    """Fetch every shard in one round trip; returns (pixels, paths, rejected, seconds)."""
    task.update_state(state="ASSEMBLING", meta={"shards": len(shard_keys)})
    started = time.perf_counter()
    pixels, paths, rejected = assemble(store().get_many(shard_keys))
    seconds = time.perf_counter() - started
    logger.info("job %s: assembled %d images in %.2fs", job_id, len(paths), seconds)
    return pixels, paths, rejected, seconds


@app.task(name="catdog.train", bind=True)
def train(self, job_id: str, shard_keys: list[str], options: dict) -> dict:
    """Train on the decoded shards; return metrics and the keys of the saved models."""
    from shared import training

    pixels, paths, _, assemble_seconds = assemble_shards(self, job_id, shard_keys)

    def report(progress: dict):
        self.update_state(state="TRAINING", meta=progress)

    with tempfile.TemporaryDirectory(prefix=f"catdog-{job_id}-") as output_dir:
        metrics = training.train_and_evaluate(
            pixels, paths, options["labels"], options, output_dir, report
        )
        artifacts = {
            name: store().put_artifact(job_id, name, _read(os.path.join(output_dir, name)))
            for name in ("model.keras", "model.h5")
        }
    metrics["images_used"] = len(paths)
    metrics["timings"]["assemble_s"] = assemble_seconds
    logger.info(
        "job %s: held-out accuracy %.4f, trained in %.1fs on %s",
        job_id,
        metrics["test_accuracy"],
        metrics["timings"]["train_s"],
        metrics["device"],
    )
    return {"metrics": metrics, "artifacts": artifacts}


@app.task(name="catdog.predict", bind=True)
def predict(self, job_id: str, model_key: str, shard_keys: list[str], options: dict) -> dict:
    """Classify the decoded shards with the model at ``model_key``; one compact result."""
    from shared import devices, prediction

    pixels, paths, rejected, assemble_seconds = assemble_shards(self, job_id, shard_keys)
    suffix = ".h5" if model_key.endswith(".h5") else ".keras"
    with tempfile.NamedTemporaryFile(suffix=suffix) as model_file:
        model_file.write(store().get_artifact(model_key))
        model_file.flush()
        model = prediction.load_model_safely(model_file.name)

    def report(done: int, total: int):
        self.update_state(state="PREDICTING", meta={"done": done, "total": total})

    started = time.perf_counter()
    probabilities = prediction.predict_probabilities(model, pixels, options["batch_size"], report)
    predict_seconds = time.perf_counter() - started
    table = {"paths": paths, "probabilities": probabilities.round(6).tolist()}
    key = store().put_artifact(job_id, "predictions.json", json.dumps(table).encode())
    logger.info("job %s: predicted %d images in %.2fs", job_id, len(paths), predict_seconds)
    return {
        "predictions": key,
        "images": len(paths),
        "rejected": rejected,
        "device": devices.describe_device(),
        "timings": {"assemble_s": assemble_seconds, "predict_s": predict_seconds},
    }


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()
