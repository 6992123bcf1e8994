"""Tasks for the ``gpu`` queue: assemble shards, then train or predict.

Run this worker with one pool process (``-P prefork -c 1``): one process owns
the GPU, and the worker's main process, which never imports TensorFlow,
keeps answering (heartbeats, Flower, ``inspect``) while its child trains,
and replaces a child that died (out of memory) so the task can be retried.
Keras is imported lazily, in the pool child, so that CPU workers and every
main process, which load this module too, never import TensorFlow.
"""

import json
import logging
import tempfile
import time
from pathlib import Path

from celery.exceptions import Ignore
from celery.signals import worker_process_init

from catdog_queue.jobs.canvas import AFTER_A_CRASH
from catdog_queue.shared import settings, task_names
from catdog_queue.shared.job_state import JobState, LockLost
from catdog_queue.shared.options import PredictOptions, TrainingOptions
from catdog_queue.shared.shards import TRAINED_FILES
from catdog_queue.shared.task_arguments import (
    TaskRefused,
    check_data_root,
    check_job_id,
    check_model_key,
    check_shards,
)
from catdog_queue.workers.app import app
from catdog_queue.workers.assembly import fetch_shard, shard_catalogue
from catdog_queue.workers.store import store

logger = logging.getLogger(__name__)


@worker_process_init.connect
def import_tensorflow_early(**_):
    """In the GPU worker's pool process: import Keras and its backend (``KERAS_BACKEND``:
    TensorFlow, JAX or PyTorch) at start-up, while CPU workers decode.

    Never in a process that forks afterwards: the pool's main process does not
    get here, only its children. The memory settings come first: JAX and
    PyTorch read theirs from the environment when they load.
    """
    if "gpu" not in app.amqp.queues.consume_from:
        return
    started = time.perf_counter()
    from catdog_queue.training import devices

    devices.configure_devices(settings.gpu_memory_limit_mb())
    from catdog_queue.training import fit, prediction  # noqa: F401  (the import is the point)

    seconds = time.perf_counter() - started
    logger.info(
        "Keras (%s) ready in %.1fs on %s",
        devices.backend_name(), seconds, devices.describe_device(),
    )  # fmt: skip


def _check_data_arguments(job_id, data_root, shards, image_size: int) -> None:
    """Refuse, before any work, a message whose arguments no client would send."""
    check_job_id(job_id)
    check_data_root(data_root)
    check_shards(shards, settings.shard_max_bytes())
    if shards[0]["image_size"] != image_size:
        raise TaskRefused(
            f"the shards hold {shards[0]['image_size']} px images, the options ask for"
            f" {image_size} px"
        )


class _RedisCheckpoints:
    """What ``train_and_evaluate`` needs to save and resume, over the job's state."""

    def __init__(self, state: JobState):
        self.state = state

    def load(self):
        return self.state.load_checkpoint()

    def save(self, model_bytes: bytes, epoch: int, history: list[dict]) -> None:
        self.state.refresh()
        self.state.save_checkpoint(model_bytes, epoch, history)


@app.task(name=task_names.TRAIN, bind=True, **AFTER_A_CRASH)
def train(self, job_id: str, data_root: str, shards: list[dict], options: dict) -> dict:
    """Train on the decoded shards; return metrics and the keys of the saved models.

    Safe to run twice: a finished job returns its stored result, a second copy
    waits for the first, and a copy that finds a checkpoint goes on from it.
    """
    options = TrainingOptions.from_json(options)  # the message may come from anyone
    _check_data_arguments(job_id, data_root, shards, options.image_size)
    state = JobState(
        store().redis, job_id, settings.artifact_ttl_seconds(), settings.lock_ttl_seconds()
    )
    if state.result() is not None:
        logger.info("job %s: already trained, returning the stored result", job_id)
        return state.result()
    state.stop_if_cancelled()

    def waiting():
        self.update_state(state="WAITING", meta={"reason": "another copy is training this job"})

    if not state.acquire(on_wait=waiting):
        return state.result()
    try:
        return _train_locked(self, state, job_id, data_root, shards, options)
    except LockLost:
        # The copy that holds the lock now reports the outcome; this one says nothing.
        logger.warning("job %s: another runner took over; this copy stops", job_id)
        raise Ignore() from None
    finally:
        state.release()


def _train_locked(task, state, job_id, data_root, shards, options) -> dict:
    from catdog_queue.training import backbones, fit

    catalogue, assembly = shard_catalogue(task, job_id, data_root, shards)

    # Named here: Keras on JAX calls the batch hook from its thread pool, where the task's
    # request (thread-local) has no id.
    task_id = task.request.id

    def report(progress: dict):
        state.stop_if_cancelled()  # at most once a second: batches report no more often
        task.update_state(task_id=task_id, state="TRAINING", meta=progress)

    with tempfile.TemporaryDirectory(prefix=f"catdog-{job_id}-") as output_dir:
        weights = backbones.local_weights(options, store(), output_dir)
        metrics = fit.train_and_evaluate(
            catalogue, fetch_shard, options, output_dir, report, _RedisCheckpoints(state),
            weights=weights,
        )  # fmt: skip
        artifacts = {
            name: store().put_artifact(job_id, name, Path(output_dir, name).read_bytes())
            for name in TRAINED_FILES
        }
    metrics["images_used"] = len(catalogue.paths)
    metrics["shards_redecoded"] = assembly["redecoded"]
    metrics["timings"]["assemble_s"] = assembly["seconds"] + metrics["timings"].pop("load_s")
    logger.info(
        "job %s: held-out accuracy %.4f, trained in %.1fs on %s, %s mode, peak RSS %.0f MiB",
        job_id,
        metrics["test_accuracy"],
        metrics["timings"]["train_s"],
        metrics["device"],
        metrics["data_mode"],
        (metrics["peak_rss_bytes"] or 0) / 2**20,
    )
    result = {"metrics": metrics, "artifacts": artifacts}
    state.save_result(result)
    return result


@app.task(name=task_names.PREDICT, bind=True, **AFTER_A_CRASH)
def predict(self, job_id, model_key, data_root, shards, options) -> dict:
    """Classify the decoded shards with the model at ``model_key``; one compact result."""
    from catdog_queue.training import devices, prediction

    options = PredictOptions.from_json(options)
    _check_data_arguments(job_id, data_root, shards, options.image_size)
    check_model_key(model_key)
    state = JobState(store().redis, job_id, settings.artifact_ttl_seconds())
    state.stop_if_cancelled()

    catalogue, assembly = shard_catalogue(self, job_id, data_root, shards)
    suffix = ".h5" if model_key.endswith(".h5") else ".keras"
    with tempfile.NamedTemporaryFile(suffix=suffix) as model_file:
        model_file.write(store().get_artifact(model_key))
        model_file.flush()
        model = prediction.load_model_safely(model_file.name)

    def report(done: int, total: int):
        state.stop_if_cancelled()
        self.update_state(state="PREDICTING", meta={"done": done, "total": total})

    started = time.perf_counter()
    probabilities = prediction.predict_shards(
        model, catalogue, fetch_shard, options.batch_size, report, options.tta
    )
    predict_seconds = time.perf_counter() - started
    paths = catalogue.paths
    table = {"paths": paths, "probabilities": probabilities.round(6).tolist()}
    key = store().put_artifact(job_id, "predictions.json", json.dumps(table).encode())
    logger.info("job %s: predicted %d images in %.2fs", job_id, len(paths), predict_seconds)
    return {
        "predictions": key,
        "images": len(paths),
        "rejected": catalogue.rejected,
        "device": devices.describe_device(),
        "timings": {"assemble_s": assembly["seconds"], "predict_s": predict_seconds},
    }
