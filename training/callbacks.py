"""Keras callbacks of a training task: progress reports and per-epoch checkpoints.

Imports Keras: only the GPU worker imports this module.
"""

import os
import tempfile
import time

import keras

PROGRESS_INTERVAL_S = 1.0


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
        self.history.append(_floats(logs))
        self.checkpoints.save(model_bytes(self.model), epoch + 1, self.history)


class ProgressCallback(keras.callbacks.Callback):
    """Reports each epoch, and batches at most once a second, to ``on_progress``.

    Every report carries ``completed``: the last finished epoch and its
    figures. A client that polls the task state now and then can miss an
    epoch's own report (the next batch's replaces it), never its figures.
    """

    def __init__(self, epochs: int, on_progress):
        super().__init__()
        self.epochs = epochs
        self.on_progress = on_progress
        self.epoch = 0
        self.last_report = 0.0
        self.completed = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if self.on_progress is None or now - self.last_report < PROGRESS_INTERVAL_S:
            return
        self.last_report = now
        steps = self.params.get("steps") or 0
        self.on_progress(
            {
                "epoch": self.epoch,
                "epochs": self.epochs,
                "fraction": (batch + 1) / max(steps, 1),
                "completed": self.completed,
            }
            | _floats(logs)
        )

    def on_epoch_end(self, epoch, logs=None):
        self.completed = {"epoch": epoch + 1} | _floats(logs)
        if self.on_progress is not None:
            self.on_progress(
                {"epoch": epoch + 1, "epochs": self.epochs, "completed": self.completed}
                | _floats(logs)
            )


def _floats(logs) -> dict:
    return {name: float(value) for name, value in (logs or {}).items()}
