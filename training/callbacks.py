"""Keras callbacks of a training task: progress reports and per-epoch checkpoints.

Imports Keras: only the GPU worker imports this module.
"""

import json
import os
import struct
import tempfile
import threading
import time

import keras
import numpy as np

PROGRESS_INTERVAL_S = 1.0
CHECKPOINT_MAGIC = b"CDQCKPT1"
_LENGTH = struct.Struct("<I")


def checkpoint_bytes(model) -> bytes:
    """Every variable of the model and of its optimizer: raw arrays behind a JSON header.

    A copy of the variables, not a ``.keras`` archive: an order of magnitude
    cheaper per epoch (no zip, no HDF5), and no pickle. Resuming rebuilds
    the same model from the job's options and assigns them back.
    """
    variables = list(model.weights) + list(model.optimizer.variables)
    arrays = [np.asarray(variable.numpy()) for variable in variables]  # tobytes: C order
    header = {
        "model_variables": len(model.weights),
        "arrays": [{"dtype": array.dtype.str, "shape": list(array.shape)} for array in arrays],
    }
    header_bytes = json.dumps(header).encode()
    parts = [CHECKPOINT_MAGIC, _LENGTH.pack(len(header_bytes)), header_bytes]
    return b"".join(parts + [array.tobytes() for array in arrays])


def restore(checkpoint, build_model):
    """The checkpointed model, compiled with its optimizer state, and its progress.

    ``build_model()`` makes the job's model afresh (same options, same
    architecture) for the saved variables; a ``.keras`` archive (checkpoints
    of earlier versions) is loaded as it is.
    """
    data, state = checkpoint
    if bytes(data[:2]) == b"PK":
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "checkpoint.keras")
            with open(path, "wb") as model_file:
                model_file.write(data)
            model = keras.saving.load_model(path, compile=True, safe_mode=True)
    else:
        model = build_model()
        assign_variables(model, data)
    return model, state["epoch"], state["history"]


def assign_variables(model, data) -> None:
    if bytes(data[: len(CHECKPOINT_MAGIC)]) != CHECKPOINT_MAGIC:
        raise ValueError("not a checkpoint: the value does not start with the checkpoint tag")
    start = len(CHECKPOINT_MAGIC)
    (length,) = _LENGTH.unpack_from(data, start)
    header = json.loads(bytes(data[start + _LENGTH.size : start + _LENGTH.size + length]))
    offset = start + _LENGTH.size + length
    model.optimizer.build(model.trainable_variables)  # its slots exist only once built
    variables = list(model.weights) + list(model.optimizer.variables)
    shapes = [tuple(variable.shape) for variable in variables]
    saved = [tuple(spec["shape"]) for spec in header["arrays"]]
    if shapes != saved or len(model.weights) != header["model_variables"]:
        raise ValueError(
            f"the checkpoint holds {len(saved)} variables that do not fit this job's model"
            f" ({len(shapes)} variables); start the job afresh (submit it again)"
        )
    for variable, spec in zip(variables, header["arrays"]):
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
        variable.assign(array.reshape(spec["shape"]))
        offset += count * dtype.itemsize


class CheckpointCallback(keras.callbacks.Callback):
    """After every epoch: weights, optimizer state, epoch and history, in one save."""

    def __init__(self, checkpoints, earlier_history: list[dict]):
        super().__init__()
        self.checkpoints = checkpoints
        self.history = list(earlier_history)

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(_floats(logs))
        self.checkpoints.save(checkpoint_bytes(self.model), epoch + 1, self.history)


class ProgressCallback(keras.callbacks.Callback):
    """Reports each epoch, and batches at most once a second, to ``on_progress``.

    Every report carries ``completed``: the last finished epoch and its
    figures. A client that polls the task state now and then can miss an
    epoch's own report (the next batch's replaces it), never its figures.

    ``async_safe``: Keras then calls the batch hook from its thread pool and
    the training thread does not stop after every batch to turn the batch's
    figures into Python numbers (which it must do for a synchronous hook).
    The lock keeps two batches from reporting at once; a ``JobCancelled``
    raised here reaches ``fit`` at the next batch or at the epoch's end.
    """

    async_safe = True

    def __init__(self, epochs: int, on_progress):
        super().__init__()
        self.epochs = epochs
        self.on_progress = on_progress
        self.epoch = 0
        self.last_report = 0.0
        self.completed = None
        self.reporting = threading.Lock()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.on_progress is None or not self.reporting.acquire(blocking=False):
            return
        try:
            self._report_batch(batch, logs)
        finally:
            self.reporting.release()

    def _report_batch(self, batch, logs) -> None:
        now = time.monotonic()
        if now - self.last_report < PROGRESS_INTERVAL_S:
            return
        self.last_report = now
        steps = self.params.get("steps") or 0
        self.on_progress(
            {
                "epoch": self.epoch,
                "epochs": self.epochs,
                # With several steps a call, Keras names a call's last step as if
                # the call were whole: an epoch's short last call overshoots.
                "fraction": min(1.0, (batch + 1) / max(steps, 1)),
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
