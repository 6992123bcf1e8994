"""How training steps run: compiled with XLA or not, and how many per call.

Pure choices from the backend, the device and the placement, so that
``compile_model`` is told what to do instead of leaving it to Keras's
``"auto"``, and ``metrics.json`` can say what ran.
"""

from dataclasses import dataclass

from catdog_queue.shared.settings import DEFAULT_GPU_STEPS_PER_EXECUTION


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in an epoch, the last one possibly short."""
    return -(-images // batch_size)


def jit_compile_for(backend: str, on_gpu: bool) -> bool:
    """XLA where it pays: always on JAX (every step is ``jax.jit``-ed anyway), on a GPU
    with TensorFlow, never on PyTorch (``torch.compile``: minutes of compiling, experimental
    in Keras).

    TensorFlow on a CPU measured XLA slower (``python -m bench steps``, BENCHMARKS.md):
    the CNN's epoch 7.5 s against 4.5 s, and its first epoch 37 s against 15 s.
    """
    if backend == "jax":
        return True
    if backend == "tensorflow":
        return on_gpu
    return False


def steps_per_execution_for(
    requested: int | None, backend: str, strategy: str, steps_per_epoch: int, on_gpu: bool
) -> int:
    """Steps Keras runs per call into the compiled step.

    ``requested`` (``CATDOG_STEPS_PER_EXECUTION``; None: 1 on a CPU, more on a
    GPU). Never more than an epoch's steps: Keras would run on into the next
    epoch's batches of a stream. 1 where Keras cannot do more: on PyTorch it
    refuses, and on TensorFlow's mirrored strategy its multi-step loop fails.
    Keras calls ``on_train_batch_end`` once a call, with the call's last step,
    so progress reports stay right, only less often; checkpoints are per epoch.
    """
    if requested is None:
        requested = DEFAULT_GPU_STEPS_PER_EXECUTION if on_gpu else 1
    if not isinstance(requested, int) or requested < 1:
        raise ValueError(
            f"steps_per_execution must be a whole number of at least 1, received {requested!r}"
        )
    if backend == "torch" or strategy == "mirrored":
        return 1
    return max(1, min(requested, steps_per_epoch))


@dataclass
class ExecutionPlan:
    """Where a job's steps run (``training.parallel.Placement``) and how."""

    placement: object
    jit_compile: bool
    steps_per_execution: int


def plan_execution(options, train_images: int) -> ExecutionPlan:
    """The plan for a job, from its options and the gpu worker's settings
    (``CATDOG_TRAIN_DEVICES``, ``CATDOG_STEPS_PER_EXECUTION``)."""
    from catdog_queue.shared import settings
    from catdog_queue.training.devices import backend_name, device_scope, has_gpu
    from catdog_queue.training.parallel import check_batch_size, place

    backend = backend_name()
    forced_cpu = options.device == "cpu"
    on_gpu = has_gpu() and not forced_cpu
    placement = place(
        backend, settings.train_devices(), forced_cpu, lambda: device_scope(options.device),
        options.batch_size,
    )  # fmt: skip
    check_batch_size(options.batch_size, placement.replicas)
    steps = steps_per_execution_for(
        settings.steps_per_execution(), backend, placement.strategy,
        steps_per_epoch(train_images, options.batch_size), on_gpu,
    )  # fmt: skip
    return ExecutionPlan(placement, jit_compile_for(backend, on_gpu), steps)
