"""The pure parts of chunked values: spans, manifests and chunk names (no Redis)."""

import hashlib
import json

import pytest

from catdog_queue.shared.blobs import (
    CHUNK_MAGIC,
    DEFAULT_CHUNK_BYTES,
    chunk_keys,
    chunk_spans,
    decode_manifest,
    encode_manifest,
)


@pytest.mark.parametrize(
    ("size", "chunk_bytes", "spans"),
    [
        (10, 4, [(0, 4), (4, 8), (8, 10)]),
        (8, 4, [(0, 4), (4, 8)]),
        (3, 4, [(0, 3)]),
        (0, 4, []),
    ],
)
def test_chunk_spans_cover_the_value_once(size, chunk_bytes, spans):
    assert chunk_spans(size, chunk_bytes) == spans


def test_a_chunk_size_below_one_byte_is_refused():
    with pytest.raises(ValueError, match="at least 1 byte, received 0"):
        chunk_spans(10, 0)


def test_default_chunks_stay_far_below_the_redis_value_limit():
    assert DEFAULT_CHUNK_BYTES * 4 <= 512 * 2**20
    # A 700 MB checkpoint (the MLP at 160 px with Adam) is 11 chunks.
    assert len(chunk_spans(700 * 10**6, DEFAULT_CHUNK_BYTES)) == 11


def test_manifest_round_trips_and_names_its_chunks_by_content():
    data = bytes(range(256)) * 40
    manifest = decode_manifest(encode_manifest(data, 1000))
    assert manifest["size"] == len(data) == 10240
    assert manifest["chunks"] == 11
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    keys = chunk_keys("catdog:job:1:checkpoint", manifest)
    assert keys[0] == f"catdog:job:1:checkpoint:chunk:{manifest['sha256'][:16]}:0"
    assert len(keys) == 11 and len(set(keys)) == 11
    other = decode_manifest(encode_manifest(data[::-1], 1000))
    assert set(chunk_keys("k", other)).isdisjoint(chunk_keys("k", manifest))
    assert chunk_keys("k", decode_manifest(encode_manifest(data, 1000))) == chunk_keys(
        "k", manifest
    )


@pytest.mark.parametrize("value", [None, b"", b"CDQSHRD1...", b"PK\x03\x04", bytearray(b"{}")])
def test_plain_values_have_no_manifest(value):
    assert decode_manifest(value) is None
    assert chunk_keys("k", decode_manifest(value)) == []


def test_a_manifest_that_does_not_add_up_is_refused():
    lying = {"size": 10, "sha256": "0" * 64, "chunk_bytes": 4, "chunks": 2, "token": "0" * 16}
    with pytest.raises(ValueError, match="does not add up"):
        decode_manifest(CHUNK_MAGIC + json.dumps(lying).encode())
