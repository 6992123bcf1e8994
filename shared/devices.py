"""What TensorFlow trains on, set up safely with or without a GPU."""

import logging
import platform

logger = logging.getLogger(__name__)


def configure_devices() -> None:
    """Let TensorFlow grow GPU memory as needed instead of taking it all.

    A no-op without a GPU. Must run before TensorFlow touches a device;
    later it cannot change the setting, which is logged, not fatal.
    """
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:
            logger.warning("could not turn on memory growth for %s: %s", gpu.name, error)


def describe_device() -> str:
    """``GPU: <name>`` for the first GPU TensorFlow sees, else ``CPU: <model>``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
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
