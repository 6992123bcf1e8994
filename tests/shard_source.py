"""Shards held in a dict, for tests of training and prediction without Redis.

``fetch(key)`` is what the gpu worker's ``ShardStore.get_shard`` is to
training: these tests exercise the real catalogue, windows and feeds, with
the shards' bytes made by the real ``encode_shard``.
"""

import numpy as np

from catdog_queue.shared.shards import decode_shard, encode_shard
from catdog_queue.training.catalogue import ShardCatalogue


def shard_source(pixels: np.ndarray, paths: list[str], shard_size: int):
    """``(catalogue, fetch, fetched keys)`` of ``pixels`` cut into shards of ``shard_size``."""
    blobs = {}
    for start in range(0, len(paths), shard_size):
        key = f"catdog:shard:test-{start}"
        blob = encode_shard(
            pixels[start : start + shard_size], paths[start : start + shard_size], []
        )
        blobs[key] = blob
    headers = {key: (decode_shard(blob)[0], len(blob)) for key, blob in blobs.items()}
    catalogue = ShardCatalogue.from_headers(list(blobs), headers)
    fetched = []

    def fetch(key):
        fetched.append(key)
        return decode_shard(blobs[key])

    return catalogue, fetch, fetched
