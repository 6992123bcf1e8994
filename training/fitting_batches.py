"""Inference batches that fit the device: a batch the device cannot hold is halved.

How much memory a batch may take is not known before it runs: other processes
share the GPU, the backend keeps pools of its own, and a model's activations
grow with its image size. So ``--batch-size`` is a ceiling for evaluation and
prediction: they start there, a batch that runs out of memory is split in two
and tried again (down to one image), and the smaller size holds for the rest
of the pass. The probabilities are the same, in the same order. Training keeps
its batch, which is part of the optimisation: it fails instead, saying what to
pass (``training_out_of_memory``).

Backend-neutral: TensorFlow raises ``ResourceExhaustedError``, JAX an
``XlaRuntimeError`` saying ``RESOURCE_EXHAUSTED``, PyTorch ``OutOfMemoryError``
("CUDA out of memory"); they are told apart by name and message, so no
framework is imported here.
"""

import logging

logger = logging.getLogger(__name__)

OUT_OF_MEMORY_MARKERS = (
    "ResourceExhausted",
    "RESOURCE_EXHAUSTED",
    "OutOfMemoryError",
    "out of memory",
    "OOM when allocating",
)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device (or the host) had no memory for the step."""
    if isinstance(error, MemoryError):
        return True
    if type(error).__module__.split(".")[0] == "redis":
        # redis-py's OutOfMemoryError is Redis's maxmemory refusing a write (a checkpoint
        # saved mid-fit): a smaller batch would not help.
        return False
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in OUT_OF_MEMORY_MARKERS)


class FittingBatches:
    """Runs a step over slices of at most ``size`` images, halving ``size`` when one
    runs out of memory; ``halvings`` counts how often it did."""

    def __init__(self, ceiling: int):
        if ceiling < 1:
            raise ValueError(f"a batch holds at least one image, received {ceiling}")
        self.size = ceiling
        self.halvings = 0

    def apply(self, step, *arrays) -> list:
        """``[(step(*slices), images in the slice), ...]`` over ``arrays`` (cut alike)."""
        results, start, total = [], 0, len(arrays[0])
        while start < total:
            end = min(start + self.size, total)
            try:
                results.append((step(*(array[start:end] for array in arrays)), end - start))
            except Exception as error:
                if end - start == 1 or not is_out_of_memory(error):
                    raise
                self._halve(end - start, error)
                continue
            start = end
        return results

    def _halve(self, tried: int, error: BaseException) -> None:
        self.size = max(1, tried // 2)
        self.halvings += 1
        logger.warning(
            "out of memory on a batch of %d images (%s): going on with batches of %d",
            tried, type(error).__name__, self.size,
        )  # fmt: skip


class DeviceOutOfMemory(RuntimeError):
    """Training ran out of memory. Not a ``MemoryError``: Celery re-raises that one out of
    the task, which would end the worker's process instead of failing the job."""


def training_out_of_memory(error: BaseException, batch_size: int) -> DeviceOutOfMemory:
    """What a training step that ran out of memory fails with: the fix, then the cause."""
    smaller = max(1, batch_size // 2)
    return DeviceOutOfMemory(
        f"the device ran out of memory training batches of {batch_size} images"
        f" ({type(error).__name__}); pass --batch-size {smaller} (or a smaller --image-size),"
        " or give the gpu worker more memory (GPU_MEMORY_LIMIT_MB, other processes on the GPU)"
    )
