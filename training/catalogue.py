"""Where every image of a job lives, and in which order training reads it.

Pure NumPy (no Keras, no Redis), so it is cheap to test. The catalogue is
built from the shards' headers alone (read with GETRANGE, no pixels): the
used paths, in shard order, give each image a global index, and the split
is made over those, exactly as before streaming existed.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class ShardCatalogue:
    keys: list[str]
    counts: np.ndarray  # images per shard
    offsets: np.ndarray  # global index of each shard's first image
    paths: list[str]  # the used images, shard after shard
    rejected: list[dict]
    image_shape: tuple  # (S, S, 3)
    stored_bytes: int  # the shards' values in Redis, headers included

    @classmethod
    def from_headers(cls, keys: list[str], headers: dict) -> "ShardCatalogue":
        """``headers`` is ``{key: (header, size in bytes)}`` (``ShardStore.cached_headers``)."""
        counts, paths, rejected, shape = [], [], [], None
        for key in keys:
            header, _ = headers[key]
            counts.append(len(header["paths"]))
            paths.extend(header["paths"])
            rejected.extend(header["rejected"])
            if header["paths"] and shape is None:
                shape = tuple(header["shape"][1:])
        if shape is None:
            raise ValueError("every image was rejected: there is nothing to train on")
        counts = np.array(counts, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        stored = sum(headers[key][1] for key in keys)
        return cls(list(keys), counts, offsets, paths, rejected, shape, stored)

    @property
    def image_bytes(self) -> int:
        return int(np.prod(self.image_shape))

    @property
    def pixel_bytes(self) -> int:
        return len(self.paths) * self.image_bytes

    def shard_of(self, indices: np.ndarray) -> np.ndarray:
        """The shard number of each global image index."""
        return np.searchsorted(self.offsets, indices, side="right") - 1

    def window_shards(self, window_bytes: int) -> int:
        """How many of the largest shards fit in ``window_bytes`` of pixels (at least 1)."""
        largest = int(self.counts.max()) * self.image_bytes
        return max(1, window_bytes // max(largest, 1))


def choose_data_mode(requested: str, pixel_bytes: int, budget_bytes: int) -> tuple[str, str]:
    """``(mode, why)``: ``auto`` holds the data in memory while it fits the budget.

    In memory, training copies each image once into the training or held-out
    array, so the worker holds about the pixel bytes plus one shard; the
    budget leaves the rest of the machine to TensorFlow.
    """
    if requested in ("memory", "stream"):
        return requested, f"--data-mode {requested}"
    if requested != "auto":
        raise ValueError(f"data mode must be auto, memory or stream, received {requested!r}")
    megabytes = f"{pixel_bytes / 2**20:.0f} MiB of pixels"
    if pixel_bytes <= budget_bytes:
        return "memory", f"{megabytes} fit CATDOG_MEMORY_BUDGET_MB ({budget_bytes / 2**20:.0f})"
    return "stream", f"{megabytes} exceed CATDOG_MEMORY_BUDGET_MB ({budget_bytes / 2**20:.0f})"


@dataclass(frozen=True)
class Window:
    """Shards read together, and the images taken from them, in reading order."""

    shards: tuple[int, ...]
    members: np.ndarray  # global image indices


def plan_windows(catalogue, members, window_shards: int, rng=None) -> list[Window]:
    """Group ``members`` (global indices) into windows of ``window_shards`` shards.

    With ``rng``, the shards come in a random order and the images of each
    window are shuffled together (a fresh mix every epoch, since the windows
    are regrouped); without, shards and images keep their catalogue order.
    Shards holding none of ``members`` are never read.
    """
    if window_shards < 1:
        raise ValueError(f"a window needs at least 1 shard, received {window_shards}")
    members = np.sort(np.asarray(members, dtype=np.int64))
    shard_numbers = catalogue.shard_of(members)
    used = np.unique(shard_numbers)
    if rng is not None:
        used = rng.permutation(used)
    windows = []
    for start in range(0, len(used), window_shards):
        shards = used[start : start + window_shards]
        chosen = members[np.isin(shard_numbers, shards)]
        if rng is not None:
            chosen = rng.permutation(chosen)
        windows.append(Window(tuple(int(shard) for shard in shards), chosen))
    return windows


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The shuffle of one epoch: the same for a run resumed at that epoch."""
    return np.random.default_rng([seed, epoch])


def path_order(paths: list[str], indices: np.ndarray) -> np.ndarray:
    """``indices`` sorted by their paths: the order the in-memory arrays always had,
    whatever order the shards hold the files in."""
    indices = np.asarray(indices, dtype=np.int64)
    return indices[sorted(range(len(indices)), key=lambda position: paths[indices[position]])]


def batch_count(images: int, batch_size: int) -> int:
    return -(-images // batch_size)
