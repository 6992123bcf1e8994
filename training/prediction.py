"""Load a model sent by a client, safely, and classify many images in batches.

Imports Keras: only the GPU worker imports this module.
"""

import time

import keras
import numpy as np

# Imported for its registration: models trained here hold its augmentation layer.
from catdog_queue.training import augmentation  # noqa: F401
from catdog_queue.training.catalogue import plan_windows
from catdog_queue.training.fitting_batches import FittingBatches
from catdog_queue.training.windows import batches

PROGRESS_INTERVAL_S = 1.0


def mirrored(pixels):
    """Each image of a (N, H, W, C) batch flipped left to right: what the flips of
    ``FlipAndShift`` showed the model in training, so it is as much a cat or a dog."""
    return pixels[:, :, ::-1, :]


def predict_batch(model, pixels: np.ndarray, tta: str = "none") -> np.ndarray:
    """One batch's probabilities; with ``tta="flip"``, the mean of the image's and its mirror's."""
    if tta == "none":
        return model.predict_on_batch(pixels)
    if tta != "flip":
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose none or flip")
    # Two calls, not one of twice the batch: no more memory than without.
    mirror = np.ascontiguousarray(mirrored(pixels))
    return (model.predict_on_batch(pixels) + model.predict_on_batch(mirror)) / 2


def load_model_safely(path: str):
    """Load a .keras or .h5 model; safe mode refuses code hidden in Lambda layers."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def predict_shards(
    model, catalogue, fetch, batch_size: int, on_progress=None, tta="none"
) -> np.ndarray:
    """Probabilities for every image of ``catalogue``, in its order, shard after shard.

    The worker holds two shards at most (the one predicted, the next being
    read), however many images the folder has. ``tta="flip"`` averages each
    image's probabilities with its mirror's. A batch the device has no memory
    for is halved (``training.fitting_batches``).
    """
    expected = tuple(model.input_shape[1:])
    if catalogue.image_shape != expected:
        raise ValueError(
            f"the model takes images of shape {expected}, received {catalogue.image_shape}"
        )
    total = len(catalogue.paths)
    outputs = np.empty((total, model.output_shape[-1]), dtype=np.float32)
    windows = plan_windows(catalogue, np.arange(total), window_shards=1)
    labels = np.zeros(total, dtype=np.int64)  # unused: prediction needs no labels
    done, last_report = 0, 0.0
    fitting = FittingBatches(batch_size)
    for pixels, _ in batches(catalogue, fetch, [windows], batch_size, labels):
        for probabilities, count in fitting.apply(
            lambda part: predict_batch(model, part, tta), pixels
        ):
            outputs[done : done + count] = probabilities
            done += count
        now = time.monotonic()
        if on_progress is not None and now - last_report >= PROGRESS_INTERVAL_S:
            last_report = now
            on_progress(done, total)
    if on_progress is not None:
        on_progress(total, total)
    return outputs
