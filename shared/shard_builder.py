"""Make one shard (decode its files, store the array) or reuse the cached one.

Files come from the worker's disk, or, for clusters without shared storage,
from Redis, where the client uploaded their raw bytes (``--upload``): the
shard key and the cache are the same either way, and so are the rules: a
file's bytes count against the same per-file limit.

A file the worker could not read (FileUnreadable: permissions, a missing
mount, EIO) fails the task and stores nothing: a rejection stored under the
content-addressed key would outlive the fix, since fixing the machine does
not change the key.
"""

from catdog_queue.shared.data_access import ImageRejected, too_large_reason
from catdog_queue.shared.decode import decode_files
from catdog_queue.shared.settings import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_FILE_BYTES
from catdog_queue.shared.shards import ShardMissing, encode_shard


def build_shard(
    spec: dict,
    data_root: str,
    store,
    max_pixels: int,
    report=None,
    *,
    allowed_roots=None,
    max_decode_bytes=DEFAULT_MAX_DECODE_BYTES,
    max_file_bytes=DEFAULT_MAX_FILE_BYTES,
    before_each=None,
) -> dict:
    """Ensure the shard ``spec["key"]`` is in ``store``; return a small summary.

    The summary (key, counts, rejected files with reasons, whether the cache
    served it) is what travels back through Celery: never the pixels.
    ``allowed_roots``: where a worker may read (``CATDOG_DATA_ROOT``);
    ``before_each(relative_path)`` runs before each file is read (and may
    reject it: see ``workers.crash_guard``).
    """
    key, paths = spec["key"], spec["paths"]
    try:
        header, size_bytes = store.get_header(key)  # refreshes the time-to-live too
    except ShardMissing:
        header = None
    if header is not None:
        if spec.get("uploaded"):
            store.drop_upload(key)
        if report is not None:
            report(len(paths), len(paths))
        return _summary(spec, header["paths"], header["rejected"], size_bytes, True)
    read_file = _uploaded_files(store, key, max_file_bytes) if spec.get("uploaded") else None
    pixels, used_paths, rejected = decode_files(
        data_root,
        paths,
        spec["image_size"],
        max_pixels,
        report,
        read_file,
        allowed_roots=allowed_roots,
        max_decode_bytes=max_decode_bytes,
        max_file_bytes=max_file_bytes,
        before_each=before_each,
    )
    blob = encode_shard(pixels, used_paths, rejected)
    store.put(key, blob)
    if spec.get("uploaded"):
        store.drop_upload(key)  # the bytes served their purpose
    return _summary(spec, used_paths, rejected, len(blob), False)


def mark_cached(store, shards: list[dict]) -> int:
    """Put the summary of every shard already in Redis into its spec as ``cached``.

    The client checks the cache itself, in two round trips, so that only the
    missing shards become decode tasks; returns how many were cached.
    """
    found = store.cached_headers([shard["key"] for shard in shards])
    for shard in shards:
        shard.pop("cached", None)
        if shard["key"] in found:
            header, size_bytes = found[shard["key"]]
            shard["cached"] = _summary(shard, header["paths"], header["rejected"], size_bytes, True)
    return len(found)


def _uploaded_files(store, key: str, max_file_bytes: int):
    contents, reasons = store.get_upload(key)

    def read_file(relative_path: str) -> bytes:
        if relative_path in reasons:
            raise ImageRejected(reasons[relative_path])
        if relative_path not in contents:
            raise ImageRejected("not uploaded")
        if len(contents[relative_path]) > max_file_bytes:
            raise ImageRejected(too_large_reason(len(contents[relative_path]), max_file_bytes))
        return contents[relative_path]

    return read_file


def _summary(spec, used_paths, rejected, size_bytes, reused) -> dict:
    return {
        "key": spec["key"],
        "index": spec["index"],
        "images": len(spec["paths"]),
        "used": len(used_paths),
        "rejected": rejected,
        "bytes": size_bytes,
        "reused": reused,
    }
