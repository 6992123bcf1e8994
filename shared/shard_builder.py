"""Make one shard (decode its files, store the array) or reuse the cached one."""

from shared.decode import decode_files
from shared.shards import ShardMissing, encode_shard


def build_shard(spec: dict, data_root: str, store, max_pixels: int, report=None) -> dict:
    """Ensure the shard ``spec["key"]`` is in ``store``; return a small summary.

    The summary (key, counts, rejected files with reasons, whether the cache
    served it) is what travels back through Celery: never the pixels.
    """
    key, paths = spec["key"], spec["paths"]
    if store.touch(key):
        try:
            header, size_bytes = store.get_header(key)
        except ShardMissing:
            header = None  # expired between the two calls: decode it again
        if header is not None:
            if report is not None:
                report(len(paths), len(paths))
            return _summary(spec, header["paths"], header["rejected"], size_bytes, True)
    pixels, used_paths, rejected = decode_files(
        data_root, paths, spec["image_size"], max_pixels, report
    )
    blob = encode_shard(pixels, used_paths, rejected)
    store.put(key, blob)
    return _summary(spec, used_paths, rejected, len(blob), False)


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
