"""What TensorFlow trains on, set up safely with or without a GPU."""

import logging
import platform

logger = logging.getLogger(__name__)


def configure_devices(memory_limit_mb: int | None = None) -> None:
    """Let TensorFlow grow GPU memory as needed instead of taking it all.

    ``memory_limit_mb`` (``GPU_MEMORY_LIMIT_MB``) caps it instead, like the
    tutorial's ``cnmem = .7``. A no-op without a GPU. Must run before
    TensorFlow touches a device; later it cannot change the setting, which is
    logged, not fatal.
    """
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


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_scope(device: str):
    """Where to train: ``auto`` lets TensorFlow choose (a GPU if any), ``cpu`` forces it."""
    import contextlib

    import tensorflow as tf

    if device == "cpu":
        return tf.device("/CPU:0")
    if device != "auto":
        raise ValueError(f"device must be 'auto' or 'cpu', received {device!r}")
    return contextlib.nullcontext()


def describe_device(device: str = "auto") -> str:
    """``GPU: <name>`` for the first GPU TensorFlow sees, else ``CPU: <model>``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus and device == "cpu":
        return f"CPU: {_cpu_model_name()} (forced with --device cpu)"
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
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
