"""Images of a job read from their shards, a window at a time, in batches.

No Keras here: ``fetch(key) -> (header, pixels)`` reads one shard (from
Redis, in the gpu worker: ``ShardStore.get_shard``). Each shard is fetched
alone, so the Redis client never buffers more than one shard, and its
images are copied straight into place: into a window's array when
streaming, or into the training and held-out arrays when the data fits in
memory. While one window is in use a thread reads the next, so training
waits only for the first; at most two windows (and one shard) are held.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np


class ShardChanged(ValueError):
    """A shard in Redis no longer matches the header the job was planned from."""


def read_into(catalogue, fetch, shard: int, placements: list) -> None:
    """Fetch one shard and copy its images into ``(array, positions, global indices)``s."""
    key = catalogue.keys[shard]
    _, pixels = fetch(key)
    if len(pixels) != catalogue.counts[shard] or tuple(pixels.shape[1:]) != catalogue.image_shape:
        raise ShardChanged(
            f"shard {key} holds {tuple(pixels.shape)}, planned as"
            f" {catalogue.counts[shard]} images of {catalogue.image_shape}; submit the job again"
        )
    offset = catalogue.offsets[shard]
    for array, positions, indices in placements:
        array[positions] = pixels[indices - offset]


def gather(catalogue, fetch, orders: list[np.ndarray]) -> list[np.ndarray]:
    """One uint8 array per ``order`` (global indices), each shard fetched once.

    The in-memory path: the worker holds the arrays plus one shard, never
    every shard's value and a copy of it at once.
    """
    arrays = [np.empty((len(order), *catalogue.image_shape), np.uint8) for order in orders]
    located = [catalogue.shard_of(order) for order in orders]
    for shard in np.unique(np.concatenate(located)) if orders else []:
        placements = []
        for array, order, shards in zip(arrays, orders, located):
            positions = np.flatnonzero(shards == shard)
            placements.append((array, positions, order[positions]))
        read_into(catalogue, fetch, int(shard), placements)
    return arrays


def load_window(catalogue, fetch, window) -> np.ndarray:
    """The pixels of ``window.members``, in that order."""
    pixels = np.empty((len(window.members), *catalogue.image_shape), np.uint8)
    shards = catalogue.shard_of(window.members)
    for shard in window.shards:
        positions = np.flatnonzero(shards == shard)
        read_into(catalogue, fetch, shard, [(pixels, positions, window.members[positions])])
    return pixels


def read_windows(catalogue, fetch, windows):
    """Yield ``(window, pixels)`` in order, the next window read meanwhile in a thread."""
    if not windows:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-window") as reader:
        pending = reader.submit(load_window, catalogue, fetch, windows[0])
        for number, window in enumerate(windows):
            pixels = pending.result()
            if number + 1 < len(windows):
                pending = reader.submit(load_window, catalogue, fetch, windows[number + 1])
            yield window, pixels
            del pixels  # the consumer's batches are copies: this window can go


def batches(catalogue, fetch, passes, batch_size: int, label_indices: np.ndarray):
    """``(pixels, label indices)`` batches of ``batch_size`` over the windows of ``passes``.

    ``passes`` is a list of window lists (one per epoch, say). Within a pass,
    batches run on across windows, as they would over one array: every step
    sees ``batch_size`` images and only a pass's last batch is short. The
    reader runs on across passes, so the next epoch's first window is read
    while this epoch's last one is in use.
    """
    pass_numbers = [number for number, windows in enumerate(passes) for _ in windows]
    every_window = [window for windows in passes for window in windows]
    carried_pixels, carried_labels = [], []
    carried, current = 0, None
    for position, (window, pixels) in enumerate(read_windows(catalogue, fetch, every_window)):
        if pass_numbers[position] != current and carried:  # a pass ends with its short batch
            yield np.concatenate(carried_pixels), np.concatenate(carried_labels)
            carried_pixels, carried_labels, carried = [], [], 0
        current = pass_numbers[position]
        labels = label_indices[window.members]
        start = 0
        if carried:
            start = min(batch_size - carried, len(pixels))
            # Copies: a window's array must not outlive the window for a few images.
            carried_pixels.append(pixels[:start].copy())
            carried_labels.append(labels[:start])
            carried += start
            if carried == batch_size:
                yield np.concatenate(carried_pixels), np.concatenate(carried_labels)
                carried_pixels, carried_labels, carried = [], [], 0
        full_end = start + (len(pixels) - start) // batch_size * batch_size
        for begin in range(start, full_end, batch_size):
            yield pixels[begin : begin + batch_size], labels[begin : begin + batch_size]
        if full_end < len(pixels) and start < len(pixels):
            carried_pixels.append(pixels[full_end:].copy())
            carried_labels.append(labels[full_end:])
            carried += len(pixels) - full_end
        del pixels, labels  # before the reader hands over the next window
    if carried:
        yield np.concatenate(carried_pixels), np.concatenate(carried_labels)
