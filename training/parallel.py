"""Several devices on one gpu worker: which ones, and how the job trains on them.

``CATDOG_TRAIN_DEVICES`` (``shared.settings.train_devices``) asks; this
module chooses the devices the backend in use has and the way to train on
them: one device (``single``), ``keras.distribution.DataParallel`` on JAX
(``data_parallel``) or ``tf.distribute.MirroredStrategy`` on TensorFlow
(``mirrored``). PyTorch trains on one device here. Either way ``--batch-size``
is the global batch: each of N devices takes ``batch_size / N`` images a step.
A backend's framework is imported only when that backend is in use.
"""

import contextlib
from dataclasses import dataclass, field

import numpy as np

STRATEGIES = {"jax": "data_parallel", "tensorflow": "mirrored"}
TORCH_NOTE = "Keras on PyTorch trains on one device here"


@dataclass
class Placement:
    """The devices a job trains on, and the scope that builds and fits its model there."""

    devices: list[str]
    strategy: str = "single"
    note: str | None = None
    make_scope: object = field(default=contextlib.nullcontext, repr=False)

    @property
    def replicas(self) -> int:
        return len(self.devices) if self.strategy != "single" else 1

    def scope(self):
        return self.make_scope()

    def describe(self) -> dict:
        return {
            "count": len(self.devices),
            "names": list(self.devices),
            "strategy": self.strategy,
            "note": self.note,
        }


def choose_devices(request, gpus: list[str], cpus: list[str], forced_cpu=False) -> list[str]:
    """The devices to train on, from ``(kind, count)`` and what the backend has.

    ``auto``: every GPU when there are several, else the one the backend would
    pick. ``--device cpu`` (``forced_cpu``) keeps a job on one CPU unless
    ``cpu:N`` asks for more.
    """
    kind, count = request
    if kind == "auto" or (forced_cpu and kind == "gpu"):
        if forced_cpu or not gpus:
            return cpus[:1]
        return gpus if len(gpus) > 1 else gpus[:1]
    available = cpus if kind == "cpu" else gpus
    if count > len(available):
        raise ValueError(
            f"CATDOG_TRAIN_DEVICES asks for {count} {kind.upper()} devices, but the backend"
            f" sees {len(available)} ({', '.join(available) or 'none'}); ask for at most"
            f" {len(available)} or use `auto`"
        )
    return available[:count]


def check_batch_size(batch_size: int, replicas: int) -> None:
    """Keras splits each batch evenly across replicas; an uneven split fails mid-training."""
    if replicas > 1 and batch_size % replicas:
        fitting = -(-batch_size // replicas) * replicas
        raise ValueError(
            f"--batch-size {batch_size} does not split evenly across {replicas} devices;"
            f" use a multiple of {replicas} (such as {fitting}) or fewer devices"
        )


def devices_for_batch(devices: list[str], batch_size: int) -> list[str]:
    """As many of ``devices`` as the batch splits evenly across: ``auto`` never fails on
    a batch size (128 on 3 GPUs trains on 2); a count that was asked for is checked instead."""
    count = max(n for n in range(1, len(devices) + 1) if batch_size % n == 0)
    return devices[:count]


def place(backend: str, request, forced_cpu: bool, single_scope, batch_size: int) -> Placement:
    """Where a job trains; ``single_scope()`` is the one-device scope (``--device``)."""
    if backend == "torch":
        return Placement(_torch_devices(forced_cpu), note=TORCH_NOTE, make_scope=single_scope)
    gpus, cpus = available_devices(backend)
    seen = choose_devices(request, gpus, cpus, forced_cpu)
    devices = devices_for_batch(seen, batch_size) if request[0] == "auto" else seen
    note = None
    if len(devices) < len(seen):
        note = (
            f"--batch-size {batch_size} splits evenly across {len(devices)} of {len(seen)} devices"
        )
    if len(devices) == 1:
        return Placement(devices, note=note, make_scope=single_scope)
    scope = _jax_scope(devices) if backend == "jax" else _tensorflow_scope(devices)
    return Placement(devices, STRATEGIES[backend], note, make_scope=scope)


def available_devices(backend: str) -> tuple[list[str], list[str]]:
    """``(GPUs, CPUs)`` by the names the backend's distribution takes; virtual ones included."""
    if backend == "jax":
        import keras

        return _jax_list(keras, "gpu"), _jax_list(keras, "cpu")
    import tensorflow as tf

    # Logical devices: the CPUs a test split the processor into, and capped GPUs.
    return tuple(
        [device.name for device in tf.config.list_logical_devices(kind)] for kind in ("GPU", "CPU")
    )


def _jax_list(keras, kind: str) -> list[str]:
    try:
        return list(keras.distribution.list_devices(kind))
    except RuntimeError:  # JAX has no such platform (no GPU plugin)
        return []


def _torch_devices(forced_cpu: bool) -> list[str]:
    import torch

    if torch.cuda.is_available() and not forced_cpu:
        return ["cuda:0"]
    return ["cpu"]


def _jax_scope(devices: list[str]):
    import keras

    distribution = keras.distribution.DataParallel(devices=devices)
    return distribution.scope


def _tensorflow_scope(devices: list[str]):
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=devices).scope


def pad_fit_arguments(arguments: dict, replicas: int) -> dict:
    """``model.fit``'s arguments with every batch a whole multiple of ``replicas``.

    Keras on JAX and on TensorFlow's mirrored strategy split each batch
    evenly across devices and fail on a last batch that does not split (5
    images on 2 devices). That batch takes a few of its images twice (at most
    ``replicas - 1``, once an epoch): none is left out. Memory arrays grow by
    those images; streamed batches are topped up as they come.
    """
    if replicas == 1:
        return arguments
    padded = dict(arguments)
    validation = arguments["validation_data"]
    if isinstance(arguments["x"], np.ndarray):
        batch_size = arguments["batch_size"]
        padded["x"], padded["y"] = pad_part(arguments["x"], arguments["y"], batch_size, replicas)
        padded["validation_data"] = pad_part(*validation, batch_size, replicas)
        return padded
    from catdog_queue.training.feeds import SequentialBatches

    padded["x"] = (pad_batch(batch, replicas) for batch in arguments["x"])
    padded["validation_data"] = SequentialBatches(
        lambda: (pad_batch(batch, replicas) for batch in validation.make_pass()),
        validation.count,
    )
    return padded


def pad_part(pixels, targets, batch_size: int, replicas: int):
    """Arrays whose last batch of ``batch_size`` splits evenly across ``replicas``."""
    last = len(pixels) % batch_size
    total = len(pixels) + ((-last) % replicas if last else 0)
    return _repeat_to(pixels, total), _repeat_to(targets, total)


def pad_batch(batch, replicas: int):
    """One ``(pixels, targets)`` batch topped up with its own first images."""
    pixels, targets = batch
    total = -(-len(pixels) // replicas) * replicas
    return _repeat_to(pixels, total), _repeat_to(targets, total)


def _repeat_to(array, total: int):
    if total == len(array):
        return array
    return np.take(array, np.arange(total) % len(array), axis=0)
