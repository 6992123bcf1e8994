"""Small readers of environment variables: the one home for runtime settings.

``celeryconfig.py`` turns these into Celery settings; workers and the client
read the rest (shard store, time-to-live values) from here.
"""

import math
import os
from pathlib import Path

DEFAULT_SHARD_TTL_DAYS = 7.0
# The name under which sentinels monitor the master (``sentinel monitor NAME ...``).
DEFAULT_SENTINEL_MASTER = "catdog"
DEFAULT_ARTIFACT_TTL_HOURS = 24.0
# A training runner that dies loses its job's lock after this long (CATDOG_LOCK_TTL_S).
DEFAULT_LOCK_TTL_S = 15
# Redis re-delivers an unacknowledged task after this long: it must outlast
# the longest training run, or a second worker would start the same job.
DEFAULT_VISIBILITY_TIMEOUT_HOURS = 12.0
# Pillow's own default limit (about 89 megapixels).
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
# One image's decode holds at most this much (decoded pixels and conversions,
# estimated from the header before decoding): every photo up to 64 megapixels
# in RGB, 32 in RGBA, so that one worker process per core fits in 1 GB a core.
# JPEGs decode scaled down (1/2 to 1/8) and need far less.
DEFAULT_MAX_DECODE_BYTES = 256 * 2**20
# Larger files are rejected unread: JPEGs of any camera fit, and the file's
# bytes are held in memory beside the pixels decoded from them.
DEFAULT_MAX_FILE_BYTES = 64 * 2**20
# ``--upload`` holds one shard's raw files in the client and in Redis at once.
DEFAULT_MAX_UPLOAD_BYTES = 256 * 2**20


class SettingError(ValueError):
    """An environment variable holds a value the project cannot use; the message names it."""


def _float_from_env(name: str, default: float) -> float:
    raw_value = os.environ.get(name)
    if raw_value in (None, ""):
        return default
    try:
        value = float(raw_value)
    except ValueError:
        raise SettingError(f"{name} must be a number, received {raw_value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingError(f"{name} must be a positive number, received {raw_value!r}")
    return value


def _whole_number_from_env(name: str, default: float, scale: float = 1.0) -> int:
    """A positive setting times ``scale``, as a whole number of at least 1."""
    whole = int(_float_from_env(name, default) * scale)
    if whole < 1:
        raise SettingError(f"{name} is too small: it must come to at least 1 after scaling")
    return whole


def broker_url() -> str | None:
    """The Redis URL of the Celery broker, or None when none is configured."""
    return os.environ.get("CELERY_BROKER_URL") or None


def result_backend_url() -> str | None:
    return os.environ.get("CELERY_RESULT_BACKEND") or broker_url()


def store_url() -> str | None:
    """Where shards and artifacts live; the result backend's Redis by default."""
    return os.environ.get("CATDOG_STORE_URL") or result_backend_url()


def sentinel_master_name() -> str:
    """``CATDOG_SENTINEL_MASTER``: the master's name in the sentinels of a ``sentinel://`` URL."""
    name = os.environ.get("CATDOG_SENTINEL_MASTER") or DEFAULT_SENTINEL_MASTER
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SettingError(
            "CATDOG_SENTINEL_MASTER must be a name of letters, digits, '-', '_' or '.',"
            f" received {name!r}"
        )
    return name


def shard_ttl_seconds() -> int:
    return _whole_number_from_env("CATDOG_SHARD_TTL_DAYS", DEFAULT_SHARD_TTL_DAYS, 86400)


def artifact_ttl_seconds() -> int:
    return _whole_number_from_env("CATDOG_ARTIFACT_TTL_HOURS", DEFAULT_ARTIFACT_TTL_HOURS, 3600)


def visibility_timeout_seconds() -> int:
    hours = _float_from_env("CATDOG_VISIBILITY_TIMEOUT_HOURS", DEFAULT_VISIBILITY_TIMEOUT_HOURS)
    return int(hours * 3600)


def lock_ttl_seconds() -> int:
    """A training runner that dies loses its job's lock after this many seconds."""
    return _whole_number_from_env("CATDOG_LOCK_TTL_S", DEFAULT_LOCK_TTL_S)


def max_image_pixels() -> int:
    """Images with more pixels than this are rejected as decompression bombs.

    Checked on the header, before any pixel is decoded. It may be set above or
    below Pillow's default: ours is the only pixel limit the decoder applies
    (it opens Pillow's JPEG and PNG readers directly, without Pillow's check),
    and ``max_decode_bytes`` still bounds the memory an image may take.
    """
    return _whole_number_from_env("CATDOG_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)


def max_decode_bytes() -> int:
    """``CATDOG_MAX_DECODE_BYTES``: the most memory one image's decode may hold."""
    return _whole_number_from_env("CATDOG_MAX_DECODE_BYTES", DEFAULT_MAX_DECODE_BYTES)


def max_file_bytes() -> int:
    """``CATDOG_MAX_FILE_BYTES``: larger image files are rejected unread."""
    return _whole_number_from_env("CATDOG_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)


def max_upload_bytes() -> int:
    """``CATDOG_MAX_UPLOAD_BYTES``: the most raw file bytes ``--upload`` sends in one shard."""
    return _whole_number_from_env("CATDOG_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)


def redis_outage_limit_seconds() -> float:
    """How long a client keeps polling a Redis that does not answer before it gives up."""
    return _float_from_env("CATDOG_REDIS_OUTAGE_LIMIT_S", 300.0)


def default_cache_dir() -> Path:
    """Where the embedded Redis keeps its shard cache between local runs."""
    from_env = os.environ.get("CATDOG_CACHE_DIR")
    if from_env:
        return Path(from_env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("catdog-queue"))


def data_roots() -> list[str]:
    """Folders a worker may read images from (``CATDOG_DATA_ROOT``, ``:``-separated)."""
    raw_value = os.environ.get("CATDOG_DATA_ROOT", "")
    return [os.path.realpath(root) for root in raw_value.split(os.pathsep) if root]


def gpu_memory_limit_mb() -> int | None:
    """``GPU_MEMORY_LIMIT_MB``: cap TensorFlow's GPU memory; unset means grow as needed."""
    if not os.environ.get("GPU_MEMORY_LIMIT_MB"):
        return None
    return _whole_number_from_env("GPU_MEMORY_LIMIT_MB", 1)


# Training steps per call into the compiled step on a GPU: one call per step
# leaves a small model's GPU waiting on Python between steps. On a CPU the
# step itself dominates, and 8 measured no faster than 1 (BENCHMARKS.md).
DEFAULT_GPU_STEPS_PER_EXECUTION = 16


def steps_per_execution() -> int | None:
    """``CATDOG_STEPS_PER_EXECUTION``: training steps per call into the compiled step;
    None (unset): the trainer's default, 1 on a CPU, ``DEFAULT_GPU_STEPS_PER_EXECUTION``
    on a GPU."""
    if not os.environ.get("CATDOG_STEPS_PER_EXECUTION"):
        return None
    return _whole_number_from_env("CATDOG_STEPS_PER_EXECUTION", 1)


def train_devices() -> tuple[str, int | None]:
    """``CATDOG_TRAIN_DEVICES``: which devices the gpu worker trains on, as
    ``(kind, count)``: ``("auto", None)``, ``("gpu", N)`` or ``("cpu", N)``."""
    return parse_train_devices(os.environ.get("CATDOG_TRAIN_DEVICES", ""))


def parse_train_devices(text: str) -> tuple[str, int | None]:
    """``auto`` (or empty): every GPU when there are several, else one device; ``N``:
    the first N GPUs; ``cpu:N``: N CPU devices (those a backend was told to simulate)."""
    text = text.strip().lower()
    if text in ("", "auto"):
        return "auto", None
    kind, _, count = text.rpartition(":")
    if kind in ("", "gpu", "cpu") and count.isdigit() and int(count) >= 1:
        return kind or "gpu", int(count)
    raise SettingError(
        "CATDOG_TRAIN_DEVICES must be `auto`, a number of GPUs such as `2`, or `cpu:N`"
        f" for N CPU devices; received {text!r}"
    )


def shard_max_bytes() -> int:
    """``CATDOG_SHARD_MAX_BYTES``: a shard's pixels stay under this (as well as --shard-size)."""
    return _whole_number_from_env("CATDOG_SHARD_MAX_BYTES", 64_000_000)


DEFAULT_MEMORY_BUDGET_MB = 1024


def memory_budget_bytes() -> int:
    """``CATDOG_MEMORY_BUDGET_MB``: ``--data-mode auto`` trains in memory up to this many
    pixel bytes (the gpu worker then holds about twice that), and streams above."""
    return _whole_number_from_env("CATDOG_MEMORY_BUDGET_MB", DEFAULT_MEMORY_BUDGET_MB, 2**20)


def stream_window_bytes() -> int:
    """``CATDOG_STREAM_WINDOW_MB``: shards shuffled together when streaming; the gpu
    worker holds two such windows (the one in use and the next)."""
    return _whole_number_from_env("CATDOG_STREAM_WINDOW_MB", 64, 2**20)


DEFAULT_POOL_MEMORY_MB = 2048


def pool_memory_limit_bytes(queue: str) -> int | None:
    """How much address space each pool process of a ``queue`` worker may add to what it
    maps when it starts; None: no limit.

    ``CATDOG_POOL_MEMORY_MB`` (cpu workers; 2048 by default: a decode holds at
    most ``max_decode_bytes`` beside a 64 MB shard) and ``CATDOG_GPU_POOL_MEMORY_MB``
    (the gpu worker; by default the machine's memory, and no limit where an NVIDIA
    device is visible, since CUDA reserves address space far beyond the memory).
    ``0`` turns the limit off. An allocation past it raises MemoryError in that
    task, which fails it, instead of waking the kernel's OOM killer.
    """
    if queue == "gpu":
        if os.environ.get("CATDOG_GPU_POOL_MEMORY_MB", "") == "0":
            return None
        if os.environ.get("CATDOG_GPU_POOL_MEMORY_MB"):
            return _whole_number_from_env("CATDOG_GPU_POOL_MEMORY_MB", 1, 2**20)
        if Path("/dev/nvidiactl").exists():
            return None
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if os.environ.get("CATDOG_POOL_MEMORY_MB", "") == "0":
        return None
    return _whole_number_from_env("CATDOG_POOL_MEMORY_MB", DEFAULT_POOL_MEMORY_MB, 2**20)
