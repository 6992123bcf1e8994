"""Tasks for the ``gpu`` queue: assemble shards, train, evaluate, save.

Run this worker as one process (``--pool solo -c 1``): TensorFlow is not
fork-safe, and one process owns the GPU. Keras is imported lazily so that
CPU workers, which load this module too, never import TensorFlow.
"""

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
    from shared import devices, training  # noqa: F401  (the import is the point)

    devices.configure_devices()
    logger.info(
        "TensorFlow ready in %.1fs on %s",
        time.perf_counter() - started,
        devices.describe_device(),
    )


@app.task(name="catdog.train", bind=True)
def train(self, decode_summaries: list[dict], job_id: str, options: dict) -> dict:
    """Train on the shards the decode tasks made; return metrics and artifact keys."""
    from shared import training

    self.update_state(state="ASSEMBLING", meta={"shards": len(decode_summaries)})
    started = time.perf_counter()
    keys = [summary["key"] for summary in sorted(decode_summaries, key=lambda s: s["index"])]
    pixels, paths, _ = assemble(store().get_many(keys))
    assemble_seconds = time.perf_counter() - started
    logger.info("job %s: assembled %d images in %.2fs", job_id, len(paths), assemble_seconds)

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


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()
