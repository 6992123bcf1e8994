"""Split, train, evaluate and save: the GPU worker's pure work.

This module imports Keras (and so TensorFlow) at import time; only the GPU
worker imports it.
"""

import hashlib
import os
import time

import keras
import numpy as np

from shared.listing import label_of
from shared.model_metadata import write_metadata
from shared.split import stratified_split
from training.callbacks import CheckpointCallback, ProgressCallback, restore
from training.devices import describe_device, device_scope, has_gpu
from training.models import compile_model, make_model, make_optimizer


def label_indices_for(paths: list[str], labels: list[str], layout: str = "names") -> np.ndarray:
    index_of = {label: index for index, label in enumerate(labels)}
    try:
        return np.array([index_of[label_of(path, layout)] for path in paths], dtype=np.int64)
    except KeyError as error:
        raise ValueError(f"an image has a label outside {labels}: {error}") from None


def train_and_evaluate(
    pixels, paths, options, output_dir, on_progress=None, checkpoints=None
) -> dict:
    """Train ``options.model`` on a disjoint split; save it under ``output_dir``.

    Returns the metrics (split sizes, history, held-out loss and accuracy,
    confusion matrix, best epoch, timings); ``model.keras`` and ``model.h5``
    are written to ``output_dir``. ``on_progress(dict)`` hears about batches
    and epochs. With ``options.patience``, training stops early on a
    validation part carved from the training images, never on the held-out
    ones, and the best epoch's weights are kept. ``checkpoints`` (``load()``
    and ``save(model_bytes, epoch, history)``) makes training resumable: it
    is saved after every epoch and, if one exists, training goes on from it.
    """
    labels = list(options.labels)
    label_indices = label_indices_for(paths, labels, options.layout)
    require_two_labels(label_indices, labels)
    parts = split_parts(paths, label_indices, options)
    targets = keras.utils.to_categorical(label_indices, len(labels))

    keras.utils.set_random_seed(options.seed)
    with device_scope(options.device):
        metrics = _fit_and_evaluate(
            pixels, targets, parts, options, output_dir, on_progress, checkpoints
        )
    metrics["device"] = describe_device(options.device)
    metrics["test_set_sha256"] = held_out_digest(paths, parts["test"])
    return metrics


def require_two_labels(label_indices: np.ndarray, labels: list[str]) -> None:
    """Decoding may reject every image of a label; then there is nothing to tell apart."""
    present = sorted({labels[index] for index in np.unique(label_indices)})
    if len(present) < 2:
        missing = sorted(set(labels) - set(present))
        raise ValueError(
            f"after decoding, only images of {present or 'no label'} remain: every image of"
            f" {missing} was rejected (see images_rejected); training needs two labels"
        )


def held_out_digest(paths: list[str], test_indices) -> str:
    """A fingerprint of which files were held out: equal digests, equal held-out sets."""
    held_out = sorted(paths[index] for index in test_indices)
    text = "\n".join(path.encode("utf-8", "surrogateescape").hex() for path in held_out)
    return hashlib.sha256(text.encode()).hexdigest()


def _fit_and_evaluate(pixels, targets, parts, options, output_dir, on_progress, checkpoints):
    x_train, y_train = pixels[parts["train"]], targets[parts["train"]]
    x_test, y_test = pixels[parts["test"]], targets[parts["test"]]
    validation = parts.get("validation", parts["test"])
    resumed = checkpoints.load() if checkpoints is not None else None
    if resumed is not None:
        model, first_epoch, earlier_history = restore(resumed)
    else:
        model, first_epoch, earlier_history = _new_model(options, pixels.shape[1:], parts)

    # The checkpoint first: an epoch reported as done is an epoch that can be resumed.
    callbacks = [] if checkpoints is None else [CheckpointCallback(checkpoints, earlier_history)]
    callbacks.append(ProgressCallback(options.epochs, on_progress))
    if options.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=options.patience, restore_best_weights=True
            )
        )
    started = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        initial_epoch=first_epoch,
        epochs=options.epochs,
        batch_size=options.batch_size,
        validation_data=(pixels[validation], targets[validation]),
        callbacks=callbacks,
        verbose=0,
    )
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    metrics = _evaluate(model, x_train, y_train, x_test, y_test, options.batch_size)
    evaluate_seconds = time.perf_counter() - started

    save_model(model, output_dir, options)
    per_epoch = earlier_history + _history_per_epoch(history.history)
    metrics.update(
        {
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
            "timings": {"train_s": train_seconds, "evaluate_s": evaluate_seconds},
        }
    )
    return metrics


def mixed_precision_in_use(options, gpu_present: bool | None = None) -> bool:
    """Asked for, and possible: float16 compute pays off on GPUs only."""
    if gpu_present is None:
        gpu_present = has_gpu()
    wanted = options.mixed_precision and options.model == "cnn"
    return bool(wanted and options.device != "cpu" and gpu_present)


def _new_model(options, input_shape, parts):
    classes = len(options.labels)
    model = make_model(options.model, input_shape, classes, mixed_precision_in_use(options))
    steps_per_epoch = -(-len(parts["train"]) // options.batch_size)
    optimizer = make_optimizer(
        options.optimizer, options.learning_rate, options.schedule, steps_per_epoch * options.epochs
    )
    compile_model(model, optimizer, classes)
    return model, 0, []


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


def best_epoch(per_epoch: list[dict]) -> int | None:
    """The 1-based epoch with the lowest validation loss (what early stopping keeps)."""
    losses = [row.get("val_loss") for row in per_epoch]
    if not losses or None in losses:
        return None
    return int(np.argmin(losses)) + 1


def save_model(model, output_dir: str, options) -> None:
    """``model.keras`` and ``model.h5``, each carrying its labels and image size."""
    metadata = {
        "labels": list(options.labels),
        "image_size": int(model.input_shape[1]),
        "model": options.model,
        "optimizer": options.optimizer,
        "seed": options.seed,
    }
    for name in ("model.keras", "model.h5"):
        path = os.path.join(output_dir, name)
        model.save(path)
        write_metadata(path, metadata)


def _evaluate(model, x_train, y_train, x_test, y_test, batch_size) -> dict:
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=batch_size, verbose=0)
    predicted = model.predict(x_test, batch_size=batch_size, verbose=0).argmax(axis=1)
    return {
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "train_accuracy": float(train_accuracy),
        "confusion_matrix": confusion_matrix(y_test.argmax(axis=1), predicted, y_test.shape[1]),
    }


def confusion_matrix(true_indices, predicted_indices, num_classes: int) -> list[list[int]]:
    """Rows are true labels, columns predicted labels (sorted label order)."""
    counts = np.bincount(
        np.asarray(true_indices) * num_classes + np.asarray(predicted_indices),
        minlength=num_classes * num_classes,
    )
    return counts.reshape(num_classes, num_classes).tolist()


def _history_per_epoch(history: dict) -> list[dict]:
    epochs = len(next(iter(history.values()), []))
    return [
        {name: float(values[epoch]) for name, values in history.items()} for epoch in range(epochs)
    ]
