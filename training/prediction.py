"""Load a model sent by a client, safely, and classify many images in batches.

Imports Keras: only the GPU worker imports this module.
"""

import time

import keras
import numpy as np

PROGRESS_INTERVAL_S = 1.0


def load_model_safely(path: str):
    """Load a .keras or .h5 model; safe mode refuses code hidden in Lambda layers."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def predict_probabilities(model, pixels: np.ndarray, batch_size: int, on_progress=None):
    """Class probabilities (N, classes) for uint8 pixels (N, S, S, 3)."""
    expected = tuple(model.input_shape[1:])
    if tuple(pixels.shape[1:]) != expected:
        raise ValueError(
            f"the model takes images of shape {expected}, received {tuple(pixels.shape[1:])}"
        )
    outputs = np.empty((len(pixels), model.output_shape[-1]), dtype=np.float32)
    last_report = 0.0
    for start in range(0, len(pixels), batch_size):
        batch = pixels[start : start + batch_size]
        outputs[start : start + len(batch)] = model.predict_on_batch(batch)
        now = time.monotonic()
        if on_progress is not None and now - last_report >= PROGRESS_INTERVAL_S:
            last_report = now
            on_progress(start + len(batch), len(pixels))
    if on_progress is not None:
        on_progress(len(pixels), len(pixels))
    return outputs
