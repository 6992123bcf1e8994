"""The data parts of a job record: folders, listings, shard specs and decode summaries.

They come from Redis, which anyone with the password can write: a shard's
paths are joined to a data folder and shown to the user, so each must be a
relative path that stays inside it, and a decode summary must be its own
shard's. See ``jobs.record_checks`` for the rest of the record.
"""

from catdog_queue.shared.layout import LAYOUTS
from catdog_queue.shared.metrics import ResultRejected
from catdog_queue.shared.task_arguments import TaskRefused, check_shard, is_relative_path

LISTING_FIELDS = {"root", "total", "rejected", "layout"}
SUMMARY_FIELDS = {"key", "index", "images", "used", "rejected", "bytes", "reused"}


def shown(value, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: one line, however long what was received."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def whole(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def checked_parts(refuse, parts, roles_allowed) -> list:
    """``parts`` if their roles are one of ``roles_allowed`` and each part is well formed."""
    if not isinstance(parts, list) or not all(isinstance(part, dict) for part in parts):
        refuse("parts", parts, "a list of parts")
    roles = [part.get("role") for part in parts]
    if roles not in roles_allowed:
        refuse("parts", roles, f"parts of roles {' or '.join(map(str, roles_allowed))}")
    indexes = set()
    for number, part in enumerate(parts):
        field = f"parts[{number}]"
        if set(part) != {"role", "data_root", "listing", "shards"}:
            refuse(field, sorted(part), "role, data_root, listing and shards")
        if (
            not isinstance(part["data_root"], str)
            or not part["data_root"]
            or "\x00" in part["data_root"]
        ):
            refuse(f"{field}.data_root", part["data_root"], "a folder")
        _check_listing(refuse, f"{field}.listing", part["listing"])
        if not isinstance(part["shards"], list) or not part["shards"]:
            refuse(f"{field}.shards", part["shards"], "a list of shard specs")
        for position, shard in enumerate(part["shards"]):
            _check_shard(refuse, f"{field}.shards[{position}]", shard, indexes)
    return parts


def _check_listing(refuse, field: str, listing) -> None:
    if (
        not isinstance(listing, dict)
        or not LISTING_FIELDS - {"layout"} <= set(listing) <= LISTING_FIELDS
    ):
        refuse(field, listing, "root, total, rejected and layout")
    if not isinstance(listing["root"], str) or "\x00" in listing["root"]:
        refuse(f"{field}.root", listing["root"], "a folder")
    if not whole(listing["total"]):
        refuse(f"{field}.total", listing["total"], "a count")
    if not _are_rejections(listing["rejected"], is_relative_path):
        refuse(f"{field}.rejected", listing["rejected"], "a list of {path, reason}")
    if listing.get("layout", "names") not in LAYOUTS:
        refuse(f"{field}.layout", listing["layout"], f"one of {', '.join(LAYOUTS)}")


def _are_rejections(rejected, path_allowed) -> bool:
    return isinstance(rejected, list) and all(
        isinstance(item, dict)
        and set(item) == {"path", "reason"}
        and path_allowed(item["path"])
        and isinstance(item["reason"], str)
        for item in rejected
    )


def _check_shard(refuse, field: str, shard, indexes: set) -> None:
    try:  # the checks a worker makes of the same spec in a task
        check_shard(shard, max_shard_bytes=None)
    except TaskRefused as error:
        refuse.because(f"{field}: {error}")
    if shard["index"] in indexes:
        refuse(f"{field}.index", shard["index"], "a shard number of its own")
    indexes.add(shard["index"])
    if "cached" in shard:
        try:
            checked_summary(shard["cached"], shard)
        except ResultRejected as error:
            refuse.because(f"{field}.cached: {error}")


def checked_summary(summary, shard: dict) -> dict:
    """A decode summary (a task's result, or ``cached`` in a spec) of exactly this shard."""
    what = f"the decode summary of shard {shard['index']}"
    if not isinstance(summary, dict) or set(summary) != SUMMARY_FIELDS:
        raise ResultRejected(f"{what} is not one: {shown(summary)}")
    if (summary["key"], summary["index"]) != (shard["key"], shard["index"]):
        raise ResultRejected(f"{what} names shard {shown(summary['key'])}, another shard")
    if not all(whole(summary[name]) for name in ("images", "used", "bytes")):
        raise ResultRejected(f"{what} has counts that are not counts: {shown(summary)}")
    if not isinstance(summary["reused"], bool):
        raise ResultRejected(f"{what}: reused is {shown(summary['reused'])}, not true or false")
    listed = set(shard["paths"])
    if not _are_rejections(summary["rejected"], lambda path: path in listed):
        raise ResultRejected(f"{what} rejects files the shard does not hold")
    return summary
