"""Shard blobs, the shard store and build_shard, against an in-memory fake Redis."""

import json
import struct

import numpy as np
import pytest

from catdog_queue.shared.data_access import FileUnreadable
from catdog_queue.shared.listing import list_labelled_images, plan_shards
from catdog_queue.shared.shard_builder import build_shard
from catdog_queue.shared.shards import (
    SHARD_MAGIC,
    ArtifactMissing,
    ShardMissing,
    ShardStore,
    decode_shard,
    encode_shard,
)

LIMIT = 89_478_485


class FakeRedis:
    """The few redis-py calls ShardStore makes, over a dict (no server, no mock)."""

    def __init__(self):
        self.values = {}
        self.ttls = {}
        self.calls = []

    def get(self, key):
        self.calls.append(("get", key))
        return self.values.get(key)

    def set(self, key, value, ex=None):
        self.calls.append(("set", key))
        assert isinstance(value, bytes)
        self.values[key] = value
        self.ttls[key] = ex
        return True

    def expire(self, key, seconds):
        self.calls.append(("expire", key))
        if key not in self.values:
            return False
        self.ttls[key] = seconds
        return True

    def getrange(self, key, start, end):
        self.calls.append(("getrange", key))
        return self.values.get(key, b"")[start : end + 1]  # Redis: the end is included

    def strlen(self, key):
        return len(self.values.get(key, b""))

    def pipeline(self, transaction=True):
        return FakePipeline(self, transaction)

    def forget(self, key):
        """What an eviction or expiry does."""
        del self.values[key]
        del self.ttls[key]


class FakePipeline:
    def __init__(self, redis, transaction):
        self.redis = redis
        self.transaction = transaction
        self.queued = []

    def get(self, key):
        self.queued.append(("get", key))
        return self

    def expire(self, key, seconds):
        self.queued.append(("expire", key, seconds))
        return self

    def getrange(self, key, start, end):
        self.queued.append(("getrange", key, start, end))
        return self

    def strlen(self, key):
        self.queued.append(("strlen", key))
        return self

    def execute(self):
        self.redis.calls.append(("execute", len(self.queued)))
        replies = [getattr(self.redis, name)(*args) for name, *args in self.queued]
        self.queued = []
        return replies


def pixels_of(count: int, size: int = 4, start: int = 0) -> np.ndarray:
    values = np.arange(start, start + count * size * size * 3) % 256
    return values.astype(np.uint8).reshape(count, size, size, 3)


# --- encode_shard / decode_shard --------------------------------------------------


def test_round_trip_keeps_header_and_pixels():
    pixels = pixels_of(3, size=5)
    paths = ["cat.1.jpg", "sub/dog.2.jpg", "chat_é.3.png"]
    rejected = [{"path": "dog.9.jpg", "reason": "not an image Pillow can read"}]

    header, decoded = decode_shard(encode_shard(pixels, paths, rejected))

    assert header["paths"] == paths
    assert header["rejected"] == rejected
    assert header["shape"] == [3, 5, 5, 3]
    assert header["dtype"] == "uint8"
    assert decoded.dtype == np.uint8
    assert decoded.shape == (3, 5, 5, 3)
    np.testing.assert_array_equal(decoded, pixels)


def test_blob_layout_is_tag_length_json_and_raw_bytes():
    pixels = pixels_of(2)
    blob = encode_shard(pixels, ["a.1.jpg", "b.1.jpg"], [])

    assert blob.startswith(SHARD_MAGIC)
    (header_length,) = struct.unpack_from("<I", blob, len(SHARD_MAGIC))
    header_start = len(SHARD_MAGIC) + 4
    header = json.loads(blob[header_start : header_start + header_length])
    assert header["paths"] == ["a.1.jpg", "b.1.jpg"]
    # No pickle: after the JSON header come exactly the raw array bytes.
    assert blob[header_start + header_length :] == pixels.tobytes()
    assert len(blob) == header_start + header_length + pixels.nbytes


def test_decoded_pixels_are_a_read_only_view():
    _, decoded = decode_shard(encode_shard(pixels_of(1), ["a.1.jpg"], []))
    assert not decoded.flags.writeable


def test_non_contiguous_pixels_round_trip():
    pixels = pixels_of(4)[::2]
    _, decoded = decode_shard(encode_shard(pixels, ["a.1.jpg", "b.1.jpg"], []))
    np.testing.assert_array_equal(decoded, pixels)


def test_empty_shard_round_trips():
    rejected = [{"path": "cat.1.jpg", "reason": "empty file (0 bytes)"}]
    blob = encode_shard(np.empty((0, 8, 8, 3), dtype=np.uint8), [], rejected)

    header, decoded = decode_shard(blob)

    assert decoded.shape == (0, 8, 8, 3)
    assert decoded.dtype == np.uint8
    assert header["paths"] == []
    assert header["rejected"] == rejected


@pytest.mark.parametrize(
    ("pixels", "paths"),
    [
        (pixels_of(2).astype(np.float32), ["a", "b"]),
        (pixels_of(2).astype(np.uint16), ["a", "b"]),
        (pixels_of(2)[0], ["a"]),  # 3-D: one image without the batch axis
        (pixels_of(2).reshape(2, -1), ["a", "b"]),
        (pixels_of(2), ["a"]),  # one path for two images
        (pixels_of(2), ["a", "b", "c"]),
    ],
)
def test_encode_rejects_wrong_dtype_shape_or_path_count(pixels, paths):
    with pytest.raises(ValueError, match="uint8 pixels"):
        encode_shard(pixels, paths, [])


def test_decode_rejects_a_blob_without_the_tag():
    with pytest.raises(ValueError, match="not a shard"):
        decode_shard(b"\x80\x04\x95 something pickled")


# --- ShardStore -------------------------------------------------------------------


@pytest.fixture
def redis():
    return FakeRedis()


@pytest.fixture
def store(redis):
    return ShardStore(redis, shard_ttl_seconds=600, artifact_ttl_seconds=60)


def test_put_sets_the_shard_ttl_and_touch_refreshes_it(store, redis):
    assert store.touch("catdog:shard:a") is False
    store.put("catdog:shard:a", b"blob")
    assert redis.values["catdog:shard:a"] == b"blob"
    assert redis.ttls["catdog:shard:a"] == 600

    redis.ttls["catdog:shard:a"] = 5  # time passes
    assert store.touch("catdog:shard:a") is True
    assert redis.ttls["catdog:shard:a"] == 600


def test_get_header_returns_header_and_size(store):
    blob = encode_shard(pixels_of(2), ["a.1.jpg", "b.1.jpg"], [{"path": "c", "reason": "r"}])
    store.put("k", blob)

    header, size = store.get_header("k")

    assert header["paths"] == ["a.1.jpg", "b.1.jpg"]
    assert header["rejected"] == [{"path": "c", "reason": "r"}]
    assert size == len(blob)


def test_get_header_of_a_missing_shard_raises(store):
    with pytest.raises(ShardMissing):
        store.get_header("gone")


def test_get_shard_returns_header_and_pixels_and_refreshes_the_ttl(store, redis):
    pixels = pixels_of(3)
    store.put("k1", encode_shard(pixels, ["a.1.jpg", "a.2.jpg", "a.3.jpg"], []))
    redis.ttls["k1"] = 1

    header, read = store.get_shard("k1")

    assert header["paths"] == ["a.1.jpg", "a.2.jpg", "a.3.jpg"]
    np.testing.assert_array_equal(read, pixels)
    assert redis.ttls["k1"] == 600


def test_get_shard_names_the_missing_key(store, redis):
    store.put("k1", encode_shard(pixels_of(1), ["a.1.jpg"], []))
    redis.forget("k1")

    with pytest.raises(ShardMissing) as raised:
        store.get_shard("k1")

    assert raised.value.args[0] == ["k1"]
    assert isinstance(raised.value, KeyError)


def test_artifacts_round_trip_with_their_own_ttl(store, redis):
    key = store.put_artifact("job-1", "model.keras", b"weights")

    assert key == "catdog:job:job-1:artifact:model.keras"
    assert redis.ttls[key] == 60
    assert store.get_artifact(key) == b"weights"
    redis.forget(key)
    with pytest.raises(ArtifactMissing, match="gone"):
        store.get_artifact(key)


# --- build_shard ------------------------------------------------------------------


@pytest.fixture
def shard_spec(tmp_path, save_image):
    root = tmp_path / "data"
    for number, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        save_image(root / f"cat.{number}.png", np.full((10, 10, 3), colour, dtype=np.uint8))
    (root / "dog.1.jpg").write_text("not a dog")
    (spec,) = plan_shards(list_labelled_images(root), shard_size=10, image_size=4)
    return root, spec


def test_build_shard_decodes_then_reuses(shard_spec, store, redis):
    root, spec = shard_spec
    first_reports, second_reports = [], []

    first = build_shard(spec, str(root), store, LIMIT, lambda *a: first_reports.append(a))

    assert first["reused"] is False
    assert first["key"] == spec["key"]
    assert first["index"] == 0
    assert first["images"] == 4
    assert first["used"] == 3
    assert [entry["path"] for entry in first["rejected"]] == ["dog.1.jpg"]
    assert "not an image" in first["rejected"][0]["reason"]
    assert first["bytes"] == len(redis.values[spec["key"]])
    assert first_reports[-1] == (4, 4)
    header, pixels = decode_shard(redis.values[spec["key"]])
    assert sorted(header["paths"]) == ["cat.0.png", "cat.1.png", "cat.2.png"]
    assert header["paths"] == [path for path in spec["paths"] if path.startswith("cat")]
    colour_of = dict(zip(header["paths"], pixels[:, 0, 0].tolist()))
    assert colour_of["cat.0.png"] == [255, 0, 0] and colour_of["cat.2.png"] == [0, 0, 255]
    assert redis.ttls[spec["key"]] == 600

    # The files are gone: only the cache can answer the second call.
    for path in root.iterdir():
        path.unlink()
    second = build_shard(spec, str(root), store, LIMIT, lambda *a: second_reports.append(a))

    assert second["reused"] is True
    assert {k: v for k, v in second.items() if k != "reused"} == {
        k: v for k, v in first.items() if k != "reused"
    }
    assert second_reports == [(4, 4)]


def test_build_shard_without_report_callback(shard_spec, store):
    root, spec = shard_spec
    assert build_shard(spec, str(root), store, LIMIT)["used"] == 3
    assert build_shard(spec, str(root), store, LIMIT)["reused"] is True


def test_build_shard_decodes_again_when_the_shard_vanishes_after_touch(shard_spec):
    class VanishingRedis(FakeRedis):
        """EXPIRE says the key exists, then it expires before the GET."""

        def expire(self, key, seconds):
            existed = super().expire(key, seconds)
            if existed:
                self.forget(key)
            return existed

    root, spec = shard_spec
    vanishing = VanishingRedis()
    store = ShardStore(vanishing, 600, 60)
    vanishing.values[spec["key"]] = b"stale"
    vanishing.ttls[spec["key"]] = 1

    summary = build_shard(spec, str(root), store, LIMIT)

    assert summary["reused"] is False
    assert summary["used"] == 3
    assert sorted(decode_shard(vanishing.values[spec["key"]])[0]["paths"]) == [
        "cat.0.png",
        "cat.1.png",
        "cat.2.png",
    ]


def test_a_file_the_worker_cannot_read_fails_the_shard_and_caches_nothing(shard_spec, store, redis):
    root, spec = shard_spec
    moved = root.parent / "elsewhere.png"
    (root / "cat.1.png").rename(moved)  # gone from this machine after listing

    with pytest.raises(FileUnreadable, match=r"cat\.1\.png.*ENOENT"):
        build_shard(spec, str(root), store, LIMIT)
    assert spec["key"] not in redis.values

    moved.rename(root / "cat.1.png")  # fixed: the same key now decodes
    summary = build_shard(spec, str(root), store, LIMIT)
    assert summary["reused"] is False and summary["used"] == 3
    assert spec["key"] in redis.values


def test_uploaded_files_obey_the_same_size_limit(shard_spec, redis):
    root, spec = shard_spec
    contents = {path: (root / path).read_bytes() for path in spec["paths"]}

    class UploadedStore(ShardStore):
        """The uploaded bytes as Redis would return them (hashes are not in FakeRedis)."""

        def get_upload(self, key):
            return contents, {}

        def drop_upload(self, key):
            pass

    store = UploadedStore(redis, 600, 60)
    spec = dict(spec, uploaded=True)
    small = min(len(data) for path, data in contents.items() if path.endswith(".png"))

    summary = build_shard(spec, "/nowhere", store, LIMIT, max_file_bytes=small)

    reasons = {entry["path"]: entry["reason"] for entry in summary["rejected"]}
    assert all(
        "CATDOG_MAX_FILE_BYTES" in reasons[path] for path in reasons if path.endswith(".png")
    )
    assert summary["used"] == sum(
        1 for path, data in contents.items() if path.endswith(".png") and len(data) <= small
    )
