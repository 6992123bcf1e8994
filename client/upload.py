"""``--upload``: send raw file bytes through Redis to workers that cannot see them.

Only shards missing from the cache are uploaded; their keys stay the same,
so a later job on a cluster that can see the files reuses them, and the
other way round.
"""

from pathlib import Path

from shared.decode import ImageRejected, resolve_inside


def upload_missing_shards(store, root: Path, shards: list[dict], on_progress=None) -> int:
    """Upload each uncached shard's files and mark its spec ``uploaded``; returns a count."""
    uploaded, done, total = 0, 0, sum(len(shard["paths"]) for shard in shards)
    for shard in shards:
        if not store.touch(shard["key"]):
            contents, reasons = _read_files(root, shard["paths"])
            store.put_upload(shard["key"], contents, reasons)
            shard["uploaded"] = True
            uploaded += 1
        done += len(shard["paths"])
        if on_progress is not None:
            on_progress(done, total)
    return uploaded


def _read_files(root: Path, relative_paths: list[str]) -> tuple[dict, dict]:
    contents, reasons = {}, {}
    for relative_path in relative_paths:
        try:
            # The same rule as on workers: nothing from outside the data folder.
            with open(resolve_inside(root, relative_path), "rb") as image_file:
                contents[relative_path] = image_file.read()
        except ImageRejected as reason:
            reasons[relative_path] = str(reason)
        except OSError as error:
            reasons[relative_path] = f"cannot read: {error.strerror}"
    return contents, reasons
