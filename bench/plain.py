"""The baseline: one plain Python process, no queue, no Redis.

``python -m bench.plain --data DIR --epochs 10 [--model cnn]`` decodes every
image the way the cpu workers do (``shared.decode.decode_files``: simplejpeg
with DCT scaling), on every core with ``multiprocessing``, then imports Keras
and runs the same ``model.fit`` as the gpu task: the same split
(``shared.split``), the same model, optimizer, schedule and loss
(``training.models``, each model's defaults from ``shared.options``), the same
seed, batch size and validation data (the held-out part). Keras runs on the
backend ``KERAS_BACKEND`` names; nothing here imports TensorFlow itself. It
prints ``plain: epoch N/E`` lines on stderr as epochs end and, last, one JSON
line of timings on stdout.

``--callbacks`` adds what the gpu task adds to its ``model.fit``, to tell what
each costs: ``checkpoint`` (``shared.callbacks.CheckpointCallback``, saving
the model every epoch, with a store that drops the bytes instead of writing
them to Redis), ``progress`` (``shared.callbacks.ProgressCallback``, reporting
to a function that does nothing) or ``task`` (both, as the task has them).
"""

import argparse
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from catdog_queue.shared import settings
from catdog_queue.shared.decode import decode_files
from catdog_queue.shared.listing import list_labelled_images
from catdog_queue.shared.split import stratified_split

CHUNK = 250  # files per multiprocessing task: small enough to balance two cores


def _decode_chunk(job):
    root, paths, image_size, max_pixels = job
    return decode_files(root, paths, image_size, max_pixels)


def decode_folder(data_dir, image_size: int, processes: int | None = None):
    """(pixels (N, S, S, 3) uint8, used paths, labels) of every image under ``data_dir``."""
    listing = list_labelled_images(data_dir)
    paths = [listed.relative_path for listed in listing.files]
    jobs = [
        (str(listing.root), paths[start : start + CHUNK], image_size, settings.max_image_pixels())
        for start in range(0, len(paths), CHUNK)
    ]
    processes = processes or len(os.sched_getaffinity(0))
    # fork, before TensorFlow is imported: the children only decode.
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.map(_decode_chunk, jobs, chunksize=1)
    pixels = np.concatenate([part[0] for part in parts])
    used = [path for part in parts for path in part[1]]
    return pixels, used, listing.labels


def fit_like_the_task(pixels, paths, labels, epochs, batch_size=128, seed=12345,
                      test_size=0.25, learning_rate=None, callbacks="none",
                      model_name="mlp"):  # fmt: skip
    """The gpu task's ``model.fit`` (its defaults for ``model_name``: the MLP with SGD, the CNN
    with Adam and a cosine schedule; held-out validation), with nothing around it."""
    import keras

    from catdog_queue.shared.listing import label_of
    from catdog_queue.shared.options import MODEL_DEFAULTS
    from catdog_queue.training.models import compile_model, make_model, make_optimizer

    started = time.perf_counter()
    index_of = {label: index for index, label in enumerate(labels)}
    label_indices = np.array([index_of[label_of(path)] for path in paths], dtype=np.int64)
    train, test = stratified_split(paths, label_indices, test_size, seed)
    targets = keras.utils.to_categorical(label_indices, len(labels))
    keras.utils.set_random_seed(seed)
    # As the task counts them: the CNN's batch-norm momentum and cosine schedule need them.
    total_steps = -(-len(train) // batch_size) * epochs
    defaults = MODEL_DEFAULTS[model_name]
    model = make_model(model_name, pixels.shape[1:], len(labels), total_steps=total_steps)
    optimizer = make_optimizer(
        defaults["optimizer"], learning_rate, defaults["schedule"], total_steps
    )
    compile_model(model, optimizer, len(labels))
    extra = []
    if callbacks in ("checkpoint", "task"):
        from catdog_queue.training.callbacks import CheckpointCallback

        extra.append(CheckpointCallback(_DroppedCheckpoints(), []))
    if callbacks in ("progress", "task"):
        from catdog_queue.training.callbacks import ProgressCallback

        extra.append(ProgressCallback(epochs, lambda progress: None))
    callbacks = [*extra, _epoch_lines(epochs)]
    prepare_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.fit(
        pixels[train],
        targets[train],
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(pixels[test], targets[test]),
        callbacks=callbacks,
        verbose=0,
    )
    return {
        "prepare_s": prepare_seconds,
        "fit_s": time.perf_counter() - started,
        "train_images": len(train),
        "test_images": len(test),
        "epochs": epochs,
    }


class _DroppedCheckpoints:
    """The checkpoint store of the gpu task, minus Redis: the model bytes are dropped."""

    def save(self, model_bytes, epoch, history):
        self.last_size = len(model_bytes)


def _epoch_lines(epochs: int):
    """A Keras callback printing ``plain: epoch N/E`` to stderr as each epoch ends."""
    import keras

    class EpochLines(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"plain: epoch {epoch + 1}/{epochs}", file=sys.stderr, flush=True)

    return EpochLines()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plain")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument(
        "--callbacks", choices=("none", "checkpoint", "progress", "task"), default="none"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    pixels, paths, labels = decode_folder(args.data, args.image_size)
    decode_seconds = time.perf_counter() - started
    print(f"plain: decoded {len(paths)} images", file=sys.stderr, flush=True)
    clock = time.perf_counter()
    import keras  # noqa: F401  (the backend's import is part of what a plain script pays)

    import_seconds = time.perf_counter() - clock
    fitted = fit_like_the_task(
        pixels, paths, labels, args.epochs, callbacks=args.callbacks, model_name=args.model
    )
    result = {
        "model": args.model,
        "images": len(paths),
        "decode_s": decode_seconds,
        "import_s": import_seconds,
        **fitted,
        "total_s": time.perf_counter() - started,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
