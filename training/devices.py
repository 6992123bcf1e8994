"""What Keras trains on, on whichever backend ``KERAS_BACKEND`` names, with or without a GPU.

TensorFlow (the default), JAX and PyTorch each keep their own list of devices
and their own memory settings; this module is the small adapter between
them. A backend's framework is imported only in the function that needs it,
and only for the backend in use: a JAX worker never imports TensorFlow.
"""

import logging
import os
import platform

logger = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax", "torch")


def backend_name() -> str:
    """The backend Keras uses in this process (set by ``KERAS_BACKEND`` before Keras loads)."""
    import keras

    return keras.backend.backend()


def requested_backend(environment=None) -> str:
    """The backend ``KERAS_BACKEND`` asks for, without importing Keras."""
    environment = os.environ if environment is None else environment
    name = environment.get("KERAS_BACKEND", "tensorflow") or "tensorflow"
    if name not in BACKENDS:
        raise ValueError(f"KERAS_BACKEND must be one of {', '.join(BACKENDS)}, received {name!r}")
    return name


def memory_environment(backend: str, memory_limit_mb: int | None) -> dict:
    """Environment variables that set a backend's GPU memory, read when it starts.

    JAX takes 75 % of a GPU at start unless told otherwise: here it allocates
    as needed. It has no cap in megabytes, only ``XLA_PYTHON_CLIENT_MEM_FRACTION``
    of the device, which an operator sets by hand (and which then stands).
    PyTorch's expandable segments avoid fragmentation from batches of
    changing size. TensorFlow is set through ``tf.config`` instead.
    """
    if backend == "jax":
        return {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if backend == "torch":
        return {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    return {}


def configure_devices(memory_limit_mb: int | None = None) -> None:
    """Let the backend grow GPU memory as needed instead of taking it all.

    ``memory_limit_mb`` (``GPU_MEMORY_LIMIT_MB``) caps it instead. A no-op
    without a GPU. Must run before Keras (and its backend) is imported; later
    a backend cannot change the setting, which is logged, not fatal. Settings
    already in the environment stand.
    """
    backend = requested_backend()
    for variable, value in memory_environment(backend, memory_limit_mb).items():
        os.environ.setdefault(variable, value)
    if backend == "tensorflow":
        _configure_tensorflow(memory_limit_mb)
    elif backend == "torch" and memory_limit_mb:
        _cap_torch(memory_limit_mb)


def _configure_tensorflow(memory_limit_mb: int | None) -> None:
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            if memory_limit_mb:
                limit = tf.config.LogicalDeviceConfiguration(memory_limit=memory_limit_mb)
                tf.config.set_logical_device_configuration(gpu, [limit])
            else:
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:
            logger.warning("could not configure memory of %s: %s", gpu.name, error)


def _cap_torch(memory_limit_mb: int) -> None:
    import torch

    if not torch.cuda.is_available():
        return
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, memory_limit_mb * 2**20 / total))


def gpu_names() -> list[str]:
    """The GPUs the backend in use sees, by name (empty on a CPU-only machine)."""
    backend = backend_name()
    if backend == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    if backend == "torch":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [torch.cuda.get_device_name(index) for index in range(count)]
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus
    ]


def has_gpu() -> bool:
    return bool(gpu_names())


def device_scope(device: str):
    """Where to train: ``auto`` lets the backend choose (a GPU if any), ``cpu`` forces it."""
    import contextlib

    import keras

    if device == "cpu":
        return keras.device("cpu:0")
    if device != "auto":
        raise ValueError(f"device must be 'auto' or 'cpu', received {device!r}")
    return contextlib.nullcontext()


def describe_device(device: str = "auto") -> str:
    """``GPU: <name>`` for the first GPU the backend sees, else ``CPU: <model>``."""
    gpus = gpu_names()
    if gpus and device == "cpu":
        return f"CPU: {_cpu_model_name()} (forced with --device cpu)"
    if gpus:
        return f"GPU: {gpus[0]}"
    return f"CPU: {_cpu_model_name()}"


def _cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory (``VmHWM``): the one that trains, whatever
    the worker's pool (solo, or a prefork child)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
