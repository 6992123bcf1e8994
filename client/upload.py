"""``--upload``: send raw file bytes through Redis to workers that cannot see them.

Only shards missing from the cache are uploaded; their keys stay the same,
so a later job on a cluster that can see the files reuses them, and the
other way round. Files are read as workers read them (``DataFolder``: no
link followed, regular files only, so a FIFO cannot block the client), under
the same per-file limit; a shard's files together may not pass
``CATDOG_MAX_UPLOAD_BYTES``, since the client and Redis hold them at once.
"""

from pathlib import Path

from catdog_queue.shared import settings
from catdog_queue.shared.data_access import DataFolder, FileUnreadable, ImageRejected
from catdog_queue.shared.listing import DataError


class UploadRefused(DataError):
    """A shard cannot be uploaded: too large, or a file the client cannot read."""


def upload_missing_shards(store, root: Path, shards: list[dict], on_progress=None) -> int:
    """Upload each uncached shard's files and mark its spec ``uploaded``; returns a count."""
    uploaded, done, total = 0, 0, sum(len(shard["paths"]) for shard in shards)
    max_file_bytes, max_shard_bytes = settings.max_file_bytes(), settings.max_upload_bytes()
    with DataFolder(root) as folder:
        for shard in shards:
            if not store.touch(shard["key"]):
                contents, reasons = read_shard_files(folder, shard, max_file_bytes, max_shard_bytes)
                store.put_upload(shard["key"], contents, reasons)
                shard["uploaded"] = True
                uploaded += 1
            done += len(shard["paths"])
            if on_progress is not None:
                on_progress(done, total)
    return uploaded


def read_shard_files(folder, shard: dict, max_file_bytes: int, max_shard_bytes: int):
    """``({path: bytes}, {path: reason})`` of one shard; UploadRefused if it cannot go."""
    contents, reasons, total = {}, {}, 0
    for relative_path in shard["paths"]:
        try:
            data = folder.read(relative_path, max_file_bytes)
        except ImageRejected as reason:
            reasons[relative_path] = str(reason)  # the worker stores it, as it would its own
            continue
        except FileUnreadable as error:
            raise UploadRefused(f"cannot upload: {error}") from None
        total += len(data)
        if total > max_shard_bytes:
            raise UploadRefused(
                f"cannot upload shard {shard['index']}: its files pass {max_shard_bytes} bytes"
                f" at {relative_path} (CATDOG_MAX_UPLOAD_BYTES); pass a smaller --shard-size"
                " or raise the limit"
            )
        contents[relative_path] = data
    return contents, reasons
