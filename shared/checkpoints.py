"""Resumable training: the model (weights and optimizer state) as bytes, every epoch.

Imports Keras: only the GPU worker imports this module.
"""

import os
import tempfile

import keras


def restore(checkpoint):
    """The checkpointed model, compiled with its optimizer state, and its progress."""
    model_bytes, state = checkpoint
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "checkpoint.keras")
        with open(path, "wb") as model_file:
            model_file.write(model_bytes)
        model = keras.saving.load_model(path, compile=True, safe_mode=True)
    return model, state["epoch"], state["history"]


def model_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as model_file:
            return model_file.read()


class CheckpointCallback(keras.callbacks.Callback):
    """After every epoch: weights, optimizer state, epoch and history, in one save."""

    def __init__(self, checkpoints, earlier_history: list[dict]):
        super().__init__()
        self.checkpoints = checkpoints
        self.history = list(earlier_history)

    def on_epoch_end(self, epoch, logs=None):
        self.history.append({name: float(value) for name, value in (logs or {}).items()})
        self.checkpoints.save(model_bytes(self.model), epoch + 1, self.history)
