"""Split, train, evaluate and save: the GPU worker's pure work.

This module imports Keras (and so the backend ``KERAS_BACKEND`` names) at
import time; only the GPU worker imports it.
"""

import time

import keras
import numpy as np

from catdog_queue.shared.listing import label_of
from catdog_queue.shared.split import stratified_split
from catdog_queue.training.callbacks import CheckpointCallback, ProgressCallback, restore
from catdog_queue.training.catalogue import choose_data_mode
from catdog_queue.training.collapse import collapse_warnings
from catdog_queue.training.devices import (
    backend_name,
    describe_device,
    device_scope,
    peak_rss_bytes,
)
from catdog_queue.training.evaluation import confusion_matrix, evaluate
from catdog_queue.training.execution import plan_execution
from catdog_queue.training.feeds import MemoryFeed, StreamFeed
from catdog_queue.training.fitting_batches import is_out_of_memory, training_out_of_memory
from catdog_queue.training.job_model import mixed_precision_in_use, new_model, one_device_copy
from catdog_queue.training.outputs import best_epoch, held_out_digest, history_per_epoch, save_model
from catdog_queue.training.parallel import pad_fit_arguments

__all__ = [
    "best_epoch",
    "confusion_matrix",
    "label_indices_for",
    "split_parts",
    "train_and_evaluate",
]


def label_indices_for(paths: list[str], labels: list[str], layout: str = "names") -> np.ndarray:
    index_of = {label: index for index, label in enumerate(labels)}
    try:
        return np.array([index_of[label_of(path, layout)] for path in paths], dtype=np.int64)
    except KeyError as error:
        raise ValueError(f"an image has a label outside {labels}: {error}") from None


def train_and_evaluate(
    catalogue, fetch, options, output_dir, on_progress=None, checkpoints=None, limits=None,
    weights=None,
) -> dict:  # fmt: skip
    """Train ``options.model`` on a disjoint split; save it under ``output_dir``.

    ``catalogue`` says where each image lives (``ShardCatalogue``) and
    ``fetch(key)`` reads one shard. ``limits`` (``memory_budget_bytes``,
    ``window_bytes``; the worker's settings by default) decide between
    training in memory and streaming. Returns the metrics (split sizes,
    history, held-out loss and accuracy, confusion matrix, best epoch, data
    mode, timings); ``model.keras`` and ``model.h5`` are written to
    ``output_dir``. ``on_progress(dict)`` hears about batches and epochs.
    With ``options.patience``, training stops early on a validation part
    carved from the training images, never on the held-out ones, and the
    best epoch's weights are kept. ``checkpoints`` (``load()`` and
    ``save(model_bytes, epoch, history)``) makes training resumable: it is
    saved after every epoch and, if one exists, training goes on from it.
    ``weights`` is what a pretrained backbone starts from (``"imagenet"``, None
    or a local ``.h5`` path: ``training.backbones.local_weights``).
    """
    labels = list(options.labels)
    paths = catalogue.paths
    label_indices = label_indices_for(paths, labels, options.layout)
    require_two_labels(label_indices, labels)
    parts = split_parts(paths, label_indices, options)
    limits = limits or default_limits()
    mode, reason = choose_data_mode(
        options.data_mode, catalogue.pixel_bytes, limits["memory_budget_bytes"]
    )
    started = time.perf_counter()
    if mode == "memory":
        feed = MemoryFeed(catalogue, fetch, parts, label_indices, len(labels), options.batch_size)
    else:
        window_shards = catalogue.window_shards(limits["window_bytes"])
        feed = StreamFeed(
            catalogue, fetch, parts, label_indices, len(labels), options.batch_size,
            window_shards, options.seed,
        )  # fmt: skip
    load_seconds = time.perf_counter() - started

    keras.utils.set_random_seed(options.seed)
    plan = plan_execution(options, len(parts["train"]))
    metrics = _fit_and_evaluate(
        feed, catalogue.image_shape, parts, options, output_dir, on_progress, checkpoints,
        weights, plan,
    )  # fmt: skip
    metrics["device"] = describe_device(options.device)
    metrics["backend"] = backend_name()
    metrics["timings"] |= input_wait(feed, metrics["timings"]["train_s"])
    metrics["test_set_sha256"] = held_out_digest(paths, parts["test"])
    metrics["data_mode"] = mode
    metrics["data_feed"] = feed.describe() | {
        "requested": options.data_mode,
        "reason": reason,
        "pixel_bytes": catalogue.pixel_bytes,
        "stored_bytes": catalogue.stored_bytes,
    }
    metrics["timings"]["load_s"] = load_seconds
    metrics["peak_rss_bytes"] = peak_rss_bytes()
    return metrics


def input_wait(feed, train_seconds: float) -> dict:
    """How long training waited for streamed batches (and that share of ``train_s``);
    None in memory, where Keras slices the arrays itself and nothing is waited for."""
    clock = getattr(feed, "input_clock", None)
    if clock is None:
        return {"input_wait_s": None, "input_wait_share": None}
    return clock.describe(train_seconds)


def require_two_labels(label_indices: np.ndarray, labels: list[str]) -> None:
    """Decoding may reject every image of a label; then there is nothing to tell apart."""
    present = sorted({labels[index] for index in np.unique(label_indices)})
    if len(present) < 2:
        missing = sorted(set(labels) - set(present))
        raise ValueError(
            f"after decoding, only images of {present or 'no label'} remain: every image of"
            f" {missing} was rejected (see images_rejected); training needs two labels"
        )


def default_limits() -> dict:
    from catdog_queue.shared import settings

    return {
        "memory_budget_bytes": settings.memory_budget_bytes(),
        "window_bytes": settings.stream_window_bytes(),
    }


def _fit_and_evaluate(
    feed, image_shape, parts, options, output_dir, on_progress, checkpoints, weights, plan
):
    """Train on the plan's devices; evaluate and save on one (see ``one_device_copy``)."""
    validation = parts.get("validation", parts["test"])
    resumed = checkpoints.load() if checkpoints is not None else None

    def build():  # the job's model afresh: to train, or for a checkpoint's variables
        return new_model(options, image_shape, parts, weights, plan)

    with plan.placement.scope():
        if resumed is not None:
            model, first_epoch, earlier_history = restore(resumed, build)
        else:
            model, first_epoch, earlier_history = build(), 0, []
        started = time.perf_counter()
        history = _fit(
            model, feed, options, plan, checkpoints, on_progress, first_epoch, earlier_history
        )
        train_seconds = time.perf_counter() - started
    if plan.placement.replicas > 1:
        model = one_device_copy(model, options, image_shape, parts, plan)

    with device_scope(options.device):
        metrics, evaluate_seconds, save_seconds = _evaluate_and_save(
            model, feed, options, output_dir
        )
    per_epoch = earlier_history + history_per_epoch(history.history)
    training_mode_accuracy = per_epoch[-1].get("accuracy") if per_epoch else None
    warnings = collapse_warnings(
        metrics["confusion_matrix"],
        options.labels,
        metrics["train_accuracy"],
        training_mode_accuracy,
        trains_batch_norm=options.model == "cnn",  # the backbones' batch norm stays frozen
    )
    metrics.update(
        {
            "warnings": warnings,
            "train_images": len(parts["train"]),
            "test_images": len(parts["test"]),
            "validation": {
                "images": len(validation),
                "source": "train split" if "validation" in parts else "held-out (monitor only)",
            },
            "history": per_epoch,
            "epochs_run": len(per_epoch),
            "best_epoch": best_epoch(per_epoch),
            "resumed_from_epoch": first_epoch if resumed is not None else None,
            "mixed_precision": mixed_precision_in_use(options),
            "jit_compile": bool(model.jit_compile),
            "steps_per_execution": plan.steps_per_execution,
            "train_devices": plan.placement.describe(),
            "timings": {
                "train_s": train_seconds,
                "evaluate_s": evaluate_seconds,
                "save_s": save_seconds,
            },
        }
    )
    return metrics


def _fit(model, feed, options, plan, checkpoints, on_progress, first_epoch, earlier_history):
    # The checkpoint first: an epoch reported as done is an epoch that can be resumed.
    callbacks = [] if checkpoints is None else [CheckpointCallback(checkpoints, earlier_history)]
    callbacks.append(ProgressCallback(options.epochs, on_progress))
    if options.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=options.patience, restore_best_weights=True
            )
        )
    arguments = feed.fit_arguments(first_epoch, options.epochs)
    try:
        return model.fit(
            **pad_fit_arguments(arguments, plan.placement.replicas),
            initial_epoch=first_epoch,
            epochs=options.epochs,
            callbacks=callbacks,
            verbose=0,
        )
    except Exception as error:
        if is_out_of_memory(error):
            raise training_out_of_memory(error, options.batch_size) from error
        raise


def _evaluate_and_save(model, feed, options, output_dir):
    started = time.perf_counter()
    metrics = evaluate(model, feed, options.batch_size, len(options.labels), options.tta)
    evaluate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    save_model(model, output_dir, options)
    return metrics, evaluate_seconds, time.perf_counter() - started


def split_parts(paths, label_indices, options) -> dict:
    """Index arrays ``train`` and ``test``, plus ``validation`` when stopping early.

    The held-out ``test`` part is the same with or without early stopping; the
    validation part comes out of the training part.
    """
    train, test = stratified_split(paths, label_indices, options.test_size, options.seed)
    if not options.patience:
        return {"train": train, "test": test}
    train_paths = [paths[index] for index in train]
    kept, validation = stratified_split(
        train_paths, label_indices[train], options.validation_size, options.seed
    )
    return {"train": train[kept], "validation": train[validation], "test": test}
