"""The arguments of every task, checked on the worker before any work is done.

A task message may come from anyone who holds a Redis password, so a worker
trusts nothing in it: the job id becomes part of Redis keys, the data folder
is opened, the paths are read, and the image size times the number of paths
is memory the worker would allocate. Each check names the argument, what was
received and the bound, so a refused task fails with one readable line
(``TaskRefused``) and never reaches an allocation.
"""

import os
import re

from catdog_queue.shared.options import OptionsError, check_image_size
from catdog_queue.shared.shards import TRAINED_FILES

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SHARD_KEY = re.compile(r"^catdog:shard:[0-9a-f]{64}$")
# What ``predict`` uploads as its model: ``input-model.keras`` or ``.h5``.
INPUT_MODELS = tuple(f"input-{name}" for name in TRAINED_FILES)
# A job's model (trained, or uploaded by ``predict``), as ``shared.shards.artifact_key`` names it.
MODEL_KEY = re.compile(
    r"^catdog:job:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}:artifact:("
    + "|".join(re.escape(name) for name in (*TRAINED_FILES, *INPUT_MODELS))
    + ")$"
)
MAX_PATH_LENGTH = 4096  # PATH_MAX on Linux
MAX_SHARDS = 100_000
SHARD_FIELDS = {"key", "index", "paths", "image_size", "uploaded", "cached"}


class TaskRefused(ValueError):
    """A task's arguments are malformed or out of bounds; the message says which and why."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise TaskRefused(message)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_job_id(job_id) -> str:
    _require(
        isinstance(job_id, str) and bool(JOB_ID.fullmatch(job_id)),
        "job id must be 1 to 128 letters, digits, '.', '_' or '-' (starting with a letter or"
        f" digit), received {job_id!r:.80}",
    )
    return job_id


def check_data_root(data_root) -> str:
    _require(
        isinstance(data_root, str)
        and os.path.isabs(data_root)
        and "\x00" not in data_root
        and len(data_root) <= MAX_PATH_LENGTH,
        f"data_root must be an absolute folder path, received {data_root!r:.200}",
    )
    return data_root


def is_relative_path(path) -> bool:
    """A path under a data folder: relative, and no part of it empty, ``.`` or ``..``."""
    return (
        isinstance(path, str)
        and 0 < len(path) <= MAX_PATH_LENGTH
        and "\x00" not in path
        and all(part not in ("", ".", "..") for part in path.split("/"))
    )


def check_relative_path(path) -> str:
    _require(
        is_relative_path(path),
        f"a shard's paths must be relative paths inside the data folder, received {path!r:.200}",
    )
    return path


def check_shard(shard, max_shard_bytes: int | None) -> dict:
    """One shard spec (``shared.listing.plan_shards``), its pixel bytes within the bound
    (None: any size, for a client reading a record that another client planned)."""
    _require(isinstance(shard, dict), f"a shard must be a JSON object, received {shard!r:.80}")
    unknown = sorted(map(str, set(shard) - SHARD_FIELDS))
    _require(not unknown, f"unknown shard fields {unknown[:5]}; known: {sorted(SHARD_FIELDS)}")
    key = shard.get("key")
    _require(
        isinstance(key, str) and bool(SHARD_KEY.fullmatch(key)),
        f"a shard key must be 'catdog:shard:' and 64 hex digits, received {key!r:.100}",
    )
    index = shard.get("index")
    _require(
        _whole(index) and 0 <= index < MAX_SHARDS,
        f"a shard index must be a whole number from 0 to {MAX_SHARDS - 1}, received {index!r:.40}",
    )
    try:
        image_size = check_image_size(shard.get("image_size"))
    except OptionsError as error:
        raise TaskRefused(f"shard {index}: {error}") from None
    paths = shard.get("paths")
    _require(
        isinstance(paths, list) and len(paths) > 0,
        f"shard {index}: paths must be a non-empty list, received {type(paths).__name__}",
    )
    pixel_bytes = len(paths) * image_size * image_size * 3
    # A shard holds one image at least, however large (shared.listing.images_per_shard).
    if max_shard_bytes is not None and pixel_bytes > max_shard_bytes and len(paths) > 1:
        raise TaskRefused(
            f"shard {index}: {len(paths)} images of {image_size} px make {pixel_bytes:,} bytes"
            f" of pixels, over this worker's bound of {max_shard_bytes:,}"
            " (CATDOG_SHARD_MAX_BYTES); plan smaller shards (--shard-size)"
        )
    for path in paths:
        check_relative_path(path)
    _require(len(set(paths)) == len(paths), f"shard {index}: a path is listed more than once")
    _require(
        isinstance(shard.get("uploaded", False), bool),
        f"shard {index}: uploaded must be true or false",
    )
    return shard


def check_shards(shards, max_shard_bytes: int) -> list[dict]:
    _require(
        isinstance(shards, list) and 0 < len(shards) <= MAX_SHARDS,
        f"shards must be a list of 1 to {MAX_SHARDS} shard specs, received"
        f" {type(shards).__name__} of {len(shards) if isinstance(shards, list) else '?'}",
    )
    for shard in shards:
        check_shard(shard, max_shard_bytes)
    sizes = {shard["image_size"] for shard in shards}
    _require(len(sizes) == 1, f"the shards of one task must share one image size, got {sizes}")
    return shards


def check_model_key(model_key) -> str:
    _require(
        isinstance(model_key, str) and bool(MODEL_KEY.fullmatch(model_key)),
        "model_key must name a job's model ('catdog:job:<id>:artifact:model.keras' or"
        f" model.h5), received {model_key!r:.120}",
    )
    return model_key
