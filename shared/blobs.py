"""Values of any size in Redis: small ones as one string, large ones in chunks.

Redis refuses a string over 512 MB (``proto-max-bulk-len``), and a checkpoint
of a big model with its optimizer state is larger. A value longer than
``chunk_bytes`` is stored as parts ``KEY:chunk:TOKEN:N`` plus, at ``KEY``
itself, a small manifest (size, SHA-256, chunk size, token). The chunks are
written first and the manifest last, so a reader sees the old value or the new
one, never half of either; the token is the content's digest, so a rewrite
with other bytes never touches the chunks a reader of the old manifest is
still fetching (they are deleted after the swap). Chunks outlive their
manifest by ``CHUNK_GRACE_S``: a manifest that is visible has all its parts.
Reads check size and digest. Values up to ``chunk_bytes`` stay plain strings,
byte for byte what was stored before chunking existed.
"""

import hashlib
import json

CHUNK_MAGIC = b"CDQCHNK1"
DEFAULT_CHUNK_BYTES = 64 * 2**20  # well under Redis's 512 MB; one chunk is what a read buffers
CHUNK_GRACE_S = 3600
MANIFEST_MAX_BYTES = 4096  # read with one GETRANGE before a rewrite


def chunk_spans(size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` (end excluded) cutting ``size`` bytes into chunks."""
    if chunk_bytes < 1:
        raise ValueError(f"chunk size must be at least 1 byte, received {chunk_bytes}")
    return [(start, min(start + chunk_bytes, size)) for start in range(0, size, chunk_bytes)]


def encode_manifest(data, chunk_bytes: int) -> bytes:
    """The manifest of ``data`` cut into chunks of ``chunk_bytes``."""
    digest = hashlib.sha256(data).hexdigest()
    manifest = {
        "size": len(data),
        "sha256": digest,
        "chunk_bytes": chunk_bytes,
        "chunks": len(chunk_spans(len(data), chunk_bytes)),
        # The content names its chunks: equal bytes, equal keys; other bytes, other keys.
        "token": digest[:16],
    }
    return CHUNK_MAGIC + json.dumps(manifest, sort_keys=True).encode()


def decode_manifest(value) -> dict | None:
    """The manifest in ``value``, or None when ``value`` is a plain value."""
    if value is None or not bytes(value[: len(CHUNK_MAGIC)]) == CHUNK_MAGIC:
        return None
    manifest = json.loads(bytes(value[len(CHUNK_MAGIC) :]))
    expected = chunk_spans(manifest["size"], manifest["chunk_bytes"])
    if len(expected) != manifest["chunks"]:
        raise ValueError(f"a chunk manifest that does not add up: {manifest}")
    return manifest


def chunk_keys(key: str, manifest: dict | None) -> list[str]:
    """The parts of the value at ``key`` (none for a plain value)."""
    if manifest is None:
        return []
    return [f"{key}:chunk:{manifest['token']}:{number}" for number in range(manifest["chunks"])]


class ValueCorrupt(ValueError):
    """A chunked value whose parts do not add up to its manifest's size or digest."""


class BlobStore:
    """Get, put, expire and delete values of any size over one Redis client."""

    def __init__(self, redis_client, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
        chunk_spans(0, chunk_bytes)  # checks the size
        self.redis = redis_client
        self.chunk_bytes = chunk_bytes

    def manifest(self, key: str) -> dict | None:
        """The manifest at ``key``, or None for a plain or missing value (one GETRANGE)."""
        return decode_manifest(self.redis.getrange(key, 0, MANIFEST_MAX_BYTES - 1))

    def chunk_keys_at(self, key: str) -> list[str]:
        """The chunk keys of the value now at ``key`` (none when plain or missing)."""
        return chunk_keys(key, self.manifest(key))

    def stage(self, key: str, data, ttl_seconds: int):
        """Write the chunks of ``data`` (if it needs any); return what to SET at ``key``.

        Returns ``(value, stale)``: the manifest or ``data`` itself, and the
        chunk keys of the value now at ``key``, to delete once the new value is
        set (``put`` does both; a caller with a transaction of its own sets
        ``value`` inside it).
        """
        previous = self.chunk_keys_at(key)
        if len(data) <= self.chunk_bytes:
            return data, previous
        manifest_bytes = encode_manifest(data, self.chunk_bytes)
        manifest = decode_manifest(manifest_bytes)
        view = memoryview(data)
        names = chunk_keys(key, manifest)
        for name, (start, end) in zip(names, chunk_spans(len(data), self.chunk_bytes)):
            self.redis.set(name, view[start:end], ex=ttl_seconds + CHUNK_GRACE_S)
        return manifest_bytes, [name for name in previous if name not in set(names)]

    def put(self, key: str, data, ttl_seconds: int) -> None:
        value, stale = self.stage(key, data, ttl_seconds)
        self.redis.set(key, value, ex=ttl_seconds)
        if stale:
            self.redis.delete(*stale)

    def get(self, key: str, value=None):
        """The value at ``key`` (bytes, or a bytearray when chunked), None if missing.

        ``value`` is what a caller already read at ``key`` (a pipelined GET).
        A chunk gone missing means a rewrite raced this read: the manifest is
        read once more; still incomplete, the value counts as missing.
        """
        for attempt in range(2):
            if value is None or attempt:
                value = self.redis.get(key)
            manifest = decode_manifest(value)
            if manifest is None:
                return value
            joined = self._join(key, manifest)
            if joined is not None:
                return joined
        return None

    def _join(self, key: str, manifest: dict):
        joined = bytearray(manifest["size"])
        digest = hashlib.sha256()
        offset = 0
        for name in chunk_keys(key, manifest):
            part = self.redis.get(name)  # one chunk at a time: one chunk buffered
            if part is None:
                return None
            joined[offset : offset + len(part)] = part
            digest.update(part)
            offset += len(part)
        if offset != manifest["size"] or digest.hexdigest() != manifest["sha256"]:
            raise ValueCorrupt(
                f"value {key} is corrupt: its chunks hold {offset} bytes with digest"
                f" {digest.hexdigest()[:16]}, its manifest says {manifest['size']} bytes with"
                f" {manifest['sha256'][:16]}; store it again"
            )
        return joined

    def get_range(self, key: str, start: int, end: int, manifest: dict | None = None) -> bytes:
        """Bytes ``start`` to ``end`` (included, as Redis's GETRANGE) of a value."""
        if manifest is None:
            manifest = self.manifest(key)
        if manifest is None:
            return self.redis.getrange(key, start, end)
        end = min(end, manifest["size"] - 1)
        pieces = []
        for name, (first, after) in zip(
            chunk_keys(key, manifest), chunk_spans(manifest["size"], manifest["chunk_bytes"])
        ):
            if first <= end and start < after:
                pieces.append(
                    self.redis.getrange(
                        name, max(start, first) - first, min(end, after - 1) - first
                    )
                )
        return b"".join(pieces)

    def size(self, key: str, manifest: dict | None = None) -> int:
        manifest = manifest if manifest is not None else self.manifest(key)
        return manifest["size"] if manifest is not None else self.redis.strlen(key)

    def expire(self, key: str, ttl_seconds: int, manifest: dict | None = None) -> bool:
        """Start the time-to-live again, chunks included; False if ``key`` is missing."""
        exists = bool(self.redis.expire(key, ttl_seconds))
        parts = chunk_keys(key, manifest if manifest is not None else self.manifest(key))
        if exists and parts:
            pipeline = self.redis.pipeline(transaction=False)
            for name in parts:
                pipeline.expire(name, ttl_seconds + CHUNK_GRACE_S)
            pipeline.execute()
        return exists

    def delete(self, *keys: str) -> None:
        """Delete values and their chunks."""
        parts = [name for key in keys for name in self.chunk_keys_at(key)]
        if keys or parts:
            self.redis.delete(*keys, *parts)
