"""Shards and artifacts in Redis: the only way pixels and models travel.

A shard is one value: a magic tag, a little-endian uint32 header length, a
JSON header (dtype, shape, the decoded paths in order, the rejected files with
reasons) and then the raw array bytes. No pickle anywhere: the array comes
back with ``np.frombuffer`` and the header says its shape. Values go through
``shared.blobs``, so a model, checkpoint or shard over Redis's 512 MB limit is
stored in chunks.
"""

import hashlib
import json
import struct

import numpy as np

from catdog_queue.shared.blobs import CHUNK_MAGIC, BlobStore
from catdog_queue.shared.redis_client import wait_for_replica

SHARD_MAGIC = b"CDQSHRD1"
# In the error of a task that needed uploaded files Redis no longer has: the
# client that holds the files uploads them again (``client.flow``).
UPLOADS_GONE = "uploaded files are gone from Redis"
_LENGTH = struct.Struct("<I")


class ArtifactMissing(LookupError):
    """A job's file (a model, predictions) has expired from Redis."""


class ShardMissing(KeyError):
    """Shards were expected in Redis but are gone (expired, evicted, flushed)."""


def encode_shard(pixels: np.ndarray, paths: list[str], rejected: list[dict]) -> bytes:
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or len(pixels) != len(paths):
        raise ValueError(
            "a shard holds uint8 pixels (N, S, S, C) with one path per image,"
            f" received {pixels.dtype} {pixels.shape} with {len(paths)} paths"
        )
    header = {
        "dtype": "uint8",
        "shape": list(pixels.shape),
        "paths": paths,
        "rejected": rejected,
    }
    header_bytes = json.dumps(header).encode()
    return b"".join([SHARD_MAGIC, _LENGTH.pack(len(header_bytes)), header_bytes, pixels.tobytes()])


def decode_shard(blob) -> tuple[dict, np.ndarray]:
    """Header and an array view of a blob made by ``encode_shard`` (read-only for bytes)."""
    if not bytes(blob[: len(SHARD_MAGIC)]) == SHARD_MAGIC:
        raise ValueError("not a shard: the blob does not start with the shard tag")
    start = len(SHARD_MAGIC)
    (header_length,) = _LENGTH.unpack_from(blob, start)
    start += _LENGTH.size
    header = json.loads(bytes(blob[start : start + header_length]))
    pixels = np.frombuffer(
        blob, dtype=np.dtype(header["dtype"]), offset=start + header_length
    ).reshape(header["shape"])
    return header, pixels


class ShardStore:
    """Shards and job artifacts over one Redis connection."""

    def __init__(self, redis_client, shard_ttl_seconds: int, artifact_ttl_seconds: int):
        self.redis = redis_client
        self.blobs = BlobStore(redis_client)
        self.shard_ttl_seconds = shard_ttl_seconds
        self.artifact_ttl_seconds = artifact_ttl_seconds

    def touch(self, key: str) -> bool:
        """True if the shard exists; its time-to-live starts again (reuse)."""
        return self.blobs.expire(key, self.shard_ttl_seconds)

    def put(self, key: str, blob: bytes) -> None:
        # Content-addressed: two workers writing the same key write the same bytes
        # (and, for a chunked shard, the same chunk keys).
        self.blobs.put(key, blob, self.shard_ttl_seconds)

    def get_shard(self, key: str) -> tuple[dict, np.ndarray]:
        """One shard's header and pixels; its time-to-live starts again."""
        blob = self.blobs.get(key)
        if blob is None:
            raise ShardMissing([key])
        self.blobs.expire(key, self.shard_ttl_seconds)
        return decode_shard(blob)

    def get_header(self, key: str) -> tuple[dict, int]:
        """The shard's header and its size in bytes, read without its pixels.

        Like ``touch``, it starts the shard's time-to-live again.
        """
        found = self.cached_headers([key])
        if key not in found:
            raise ShardMissing(key)
        return found[key]

    def cached_headers(self, keys: list[str]) -> dict:
        """``{key: (header, size in bytes)}`` of the shards in Redis, time-to-live refreshed.

        Reads the headers only (two pipelined round trips), not the pixels.
        """
        pipeline = self.redis.pipeline(transaction=False)
        for key in keys:
            pipeline.expire(key, self.shard_ttl_seconds)
            pipeline.getrange(key, 0, len(SHARD_MAGIC) + _LENGTH.size - 1)
            pipeline.strlen(key)
        replies = pipeline.execute()
        found, chunked = {}, {}
        for key, exists, prefix, size in zip(keys, replies[0::3], replies[1::3], replies[2::3]):
            if exists and prefix.startswith(SHARD_MAGIC):
                found[key] = (_LENGTH.unpack_from(prefix, len(SHARD_MAGIC))[0], size)
            elif exists and prefix.startswith(CHUNK_MAGIC):
                chunked[key] = self._chunked_header(key)
        pipeline = self.redis.pipeline(transaction=False)
        start = len(SHARD_MAGIC) + _LENGTH.size
        for key, (header_length, _) in found.items():
            pipeline.getrange(key, start, start + header_length - 1)
        headers = pipeline.execute()
        plain = {
            key: (json.loads(header), size)
            for (key, (_, size)), header in zip(found.items(), headers)
            if header
        }
        return plain | {key: value for key, value in chunked.items() if value is not None}

    def _chunked_header(self, key: str):
        """(header, size) of a shard stored in chunks (over the chunk size), or None."""
        manifest = self.blobs.manifest(key)
        if manifest is None:
            return None
        self.blobs.expire(key, self.shard_ttl_seconds, manifest)
        prefix = self.blobs.get_range(key, 0, len(SHARD_MAGIC) + _LENGTH.size - 1, manifest)
        if not prefix.startswith(SHARD_MAGIC):
            return None
        (header_length,) = _LENGTH.unpack_from(prefix, len(SHARD_MAGIC))
        start = len(SHARD_MAGIC) + _LENGTH.size
        header = self.blobs.get_range(key, start, start + header_length - 1, manifest)
        return json.loads(header), manifest["size"]

    def put_upload(self, shard_key: str, contents: dict, reasons: dict) -> None:
        """A shard's raw file bytes (``{relative path: bytes}``) for workers without the files.

        ``reasons`` are files the client could not read: ``{relative path: reason}``.
        """
        fields = {_name(path): data for path, data in contents.items()}
        fields[_REASONS_FIELD] = json.dumps(reasons)
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.delete(_upload_key(shard_key))
        pipeline.hset(_upload_key(shard_key), mapping=fields)
        pipeline.expire(_upload_key(shard_key), self.artifact_ttl_seconds)
        pipeline.execute()

    def get_upload(self, shard_key: str) -> tuple[dict, dict]:
        fields = self.redis.hgetall(_upload_key(shard_key))
        if not fields:
            raise ShardMissing(
                f"shard {shard_key}: its {UPLOADS_GONE}; `submit.py resume <job id>` on the"
                " machine with the files uploads them again"
            )
        reasons = json.loads(fields.pop(_REASONS_FIELD, b"{}"))
        contents = {name.decode("utf-8", "surrogateescape"): data for name, data in fields.items()}
        return contents, reasons

    def drop_upload(self, shard_key: str) -> None:
        self.redis.delete(_upload_key(shard_key))

    def put_artifact(self, job_id: str, name: str, data: bytes) -> str:
        key = artifact_key(job_id, name)
        self.blobs.put(key, data, self.artifact_ttl_seconds)
        wait_for_replica(self.redis)  # a finished job's files outlive a failover
        return key

    def get_artifact(self, key: str) -> bytes:
        """The artifact's bytes (a bytearray when it was stored in chunks)."""
        data = self.blobs.get(key)
        if data is None:
            raise ArtifactMissing(
                f"{key} is gone from Redis: results expire after CATDOG_ARTIFACT_TTL_HOURS"
                " (24 by default); run the job again (`submit.py resume <job id>`)"
            )
        return data

    def put_weights(self, spec: str, data: bytes) -> str:
        """A backbone's weights file (``--weights PATH``), named by its digest."""
        key = weights_key(spec)
        self.blobs.put(key, data, self.artifact_ttl_seconds)
        return key

    def get_weights(self, spec: str) -> bytes:
        data = self.blobs.get(weights_key(spec))
        if data is None:
            raise ValueError(
                f"the weights file {spec} is gone from Redis (expired?); submit the job again"
            )
        if hashlib.sha256(data).hexdigest() != spec.split(":", 1)[1].split(".", 1)[0]:
            raise ValueError(f"the weights file stored as {spec} does not match its digest")
        return data


_REASONS_FIELD = b"\x00reasons"  # file names never start with a NUL byte


def _upload_key(shard_key: str) -> str:
    return shard_key.replace("catdog:shard:", "catdog:upload:", 1)


def _name(relative_path: str) -> bytes:
    # surrogateescape: non-UTF-8 file names round-trip byte for byte.
    return relative_path.encode("utf-8", "surrogateescape")


# The files a train task saves, under artifact_key(job id, name).
TRAINED_FILES = ("model.keras", "model.h5")


def weights_key(spec: str) -> str:
    """Where an uploaded weights file ``sha256:<digest>.<kind>`` lives in Redis."""
    return "catdog:weights:" + spec.split(":", 1)[1]


def artifact_key(job_id: str, name: str) -> str:
    """Where a job's file ``name`` (a model, predictions) lives in Redis."""
    return f"catdog:job:{job_id}:artifact:{name}"


def connect_store(url: str | None = None):
    """A ShardStore for the configured Redis (``CATDOG_STORE_URL`` or the backend)."""
    from catdog_queue.shared import redis_client, settings

    url = url or settings.store_url()
    if not url:
        raise RuntimeError("no Redis configured: set CELERY_BROKER_URL or CATDOG_STORE_URL")
    return ShardStore(
        redis_client.connect(url),
        settings.shard_ttl_seconds(),
        settings.artifact_ttl_seconds(),
    )
