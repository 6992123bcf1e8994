"""Values of any size through a real Redis server: chunks, manifests, rewrites, a 600 MB value."""

import numpy as np
import pytest

from catdog_queue.client.local_cluster import LocalCluster
from catdog_queue.shared.blobs import CHUNK_GRACE_S, BlobStore, ValueCorrupt
from catdog_queue.shared.job_state import JobState
from catdog_queue.shared.shards import ShardStore, encode_shard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    """A Redis server of its own (no workers): what the stores talk to."""
    folder = tmp_path_factory.mktemp("blobs")
    server = LocalCluster(folder / "cache", folder / "logs", "blobs")
    server.start_redis()
    client = server.redis()
    yield client
    client.flushdb()  # nothing big to save on the way out
    server.stop()


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes that differ at every position: a chunk out of place cannot go unseen."""
    return (np.arange(size // 8 + 1, dtype=np.uint64) * 7919 + seed).tobytes()[:size]


def test_a_value_over_the_chunk_size_is_stored_in_chunks_and_read_back(redis_client):
    blobs = BlobStore(redis_client, chunk_bytes=1000)
    data = pattern(10_500)
    blobs.put("test:value", data, ttl_seconds=600)

    chunks = blobs.chunk_keys_at("test:value")
    assert len(chunks) == 11
    assert all(redis_client.strlen(name) <= 1000 for name in chunks)
    assert redis_client.strlen("test:value") < 300  # the manifest only
    assert bytes(blobs.get("test:value")) == data
    assert blobs.size("test:value") == len(data)
    # Chunks outlive their manifest: a visible manifest always has its parts.
    assert redis_client.ttl(chunks[0]) > redis_client.ttl("test:value") + CHUNK_GRACE_S - 5
    for start, end in [(0, 11), (995, 1004), (2999, 3000), (10_000, 20_000)]:
        assert blobs.get_range("test:value", start, end) == data[start : end + 1]


def test_rewrites_leave_no_stray_chunks_and_small_values_stay_plain(redis_client):
    blobs = BlobStore(redis_client, chunk_bytes=1000)
    blobs.put("test:rewrite", pattern(5_000, seed=1), 600)
    first = blobs.chunk_keys_at("test:rewrite")
    blobs.put("test:rewrite", pattern(5_000, seed=2), 600)
    second = blobs.chunk_keys_at("test:rewrite")
    assert set(first).isdisjoint(second)
    assert redis_client.exists(*first) == 0 and redis_client.exists(*second) == 5
    blobs.put("test:rewrite", b"small", 600)
    assert redis_client.get("test:rewrite") == b"small"  # byte for byte a plain string
    assert redis_client.exists(*second) == 0
    blobs.put("test:rewrite", pattern(3_000), 600)
    assert blobs.expire("test:rewrite", 50) is True
    assert all(
        0 < redis_client.ttl(name) <= 50 + CHUNK_GRACE_S
        for name in blobs.chunk_keys_at("test:rewrite")
    )
    blobs.delete("test:rewrite")
    assert redis_client.keys("test:rewrite*") == []
    assert blobs.get("test:rewrite") is None and blobs.expire("test:rewrite", 5) is False


def test_a_reader_racing_a_rewrite_gets_the_new_value_never_a_mix(redis_client):
    blobs = BlobStore(redis_client, chunk_bytes=1000)
    old, new = pattern(4_000, seed=3), pattern(4_000, seed=4)
    blobs.put("test:race", old, 600)
    manifest_seen = redis_client.get("test:race")  # the reader has read the manifest...
    blobs.put("test:race", new, 600)  # ...then a writer swaps it and drops the old chunks
    assert bytes(blobs.get("test:race", manifest_seen)) == new


def test_a_damaged_chunk_is_reported_not_returned(redis_client):
    blobs = BlobStore(redis_client, chunk_bytes=1000)
    blobs.put("test:corrupt", pattern(2_500), 600)
    redis_client.setrange(blobs.chunk_keys_at("test:corrupt")[1], 10, b"X")
    with pytest.raises(ValueCorrupt, match="test:corrupt is corrupt"):
        blobs.get("test:corrupt")


def test_a_shard_in_chunks_serves_its_header_and_pixels(redis_client):
    store = ShardStore(redis_client, 600, 60)
    store.blobs = BlobStore(redis_client, chunk_bytes=2048)
    pixels = np.arange(20 * 8 * 8 * 3, dtype=np.uint32).astype(np.uint8).reshape(20, 8, 8, 3)
    paths = [f"cat.{n}.jpg" for n in range(20)]
    store.put("catdog:shard:chunked", encode_shard(pixels, paths, []))
    assert len(store.blobs.chunk_keys_at("catdog:shard:chunked")) == 3

    header, size = store.cached_headers(["catdog:shard:chunked"])["catdog:shard:chunked"]
    assert header["paths"] == paths and size > pixels.nbytes
    read_header, read_pixels = store.get_shard("catdog:shard:chunked")
    np.testing.assert_array_equal(read_pixels, pixels)
    assert read_header == header and store.touch("catdog:shard:chunked") is True


def test_a_checkpoint_over_512_mb_round_trips_through_redis(redis_client):
    """The MLP at 160 px has 59 M weights: with Adam's two moments, a 700 MB checkpoint.

    Redis refuses any single value over 512 MB; in chunks it goes through.
    """
    state = JobState(redis_client, "big-job", ttl_seconds=600)
    model_bytes = pattern(600 * 10**6)
    state.save_checkpoint(model_bytes, 3, [{"loss": 0.5}])
    chunks = BlobStore(redis_client).chunk_keys_at(state.prefix + "checkpoint")
    assert len(chunks) == 9
    del model_bytes  # what comes back is compared with a fresh copy

    loaded, progress = state.load_checkpoint()
    assert len(loaded) == 600 * 10**6 and loaded == pattern(600 * 10**6)
    assert progress == {"epoch": 3, "history": [{"loss": 0.5}]}
    del loaded

    state.save_result({"metrics": {}})  # a finished job drops its checkpoint, chunks too
    assert redis_client.exists(*chunks, state.prefix + "checkpoint") == 0
