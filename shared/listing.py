"""Find labelled images under a folder and cut them into shards.

The label comes from the file name (Kaggle's ``train/cat.0.jpg``) or from
the folder (Keras's ``train/cat/0.jpg``): see ``shared.layout``. Labels are
sorted by name, so the label-to-index map is the same on every machine.

The walk follows no link and opens no file: symbolic links (to files or to
folders), FIFOs, sockets and devices are listed as rejected with their
reason, as are folders named like images (``cat.1.jpg/``), which are not
walked into. Every entry is either a file to decode or a rejection.
"""

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from catdog_queue.shared import layout as layout_rules
from catdog_queue.shared.data_access import LINK_REASON, file_kind
from catdog_queue.shared.decode import PREPROCESSING_VERSION

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


class DataError(ValueError):
    """The data folder cannot make a job (missing, empty, a single label)."""


@dataclass(frozen=True)
class ListedFile:
    relative_path: str
    size_bytes: int
    mtime_ns: int
    label: str | None


@dataclass
class Listing:
    root: Path
    files: list[ListedFile] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    layout: str = layout_rules.NAMES

    @property
    def labels(self) -> list[str]:
        return sorted({listed.label for listed in self.files if listed.label is not None})

    @property
    def total(self) -> int:
        return len(self.files) + len(self.rejected)


def label_of(relative_path: str, layout: str = layout_rules.NAMES) -> str | None:
    """The file's label in ``layout`` (by default, its ``LABEL.N.EXT`` name), or None."""
    return layout_rules.label_of(relative_path, layout)


def list_labelled_images(data_dir: str | os.PathLike) -> Listing:
    """Every file under ``data_dir``: accepted when it is an image with a label, else rejected.

    The layout (labels from names or from folders) is found from the files.
    """
    listing = list_images(data_dir)
    unlabelled = [listed for listed in listing.files if listed.label is None]
    reason = layout_rules.unlabelled_reason(listing.layout)
    listing.rejected = sorted(
        listing.rejected
        + [{"path": listed.relative_path, "reason": reason} for listed in unlabelled],
        key=lambda entry: entry["path"],
    )
    listing.files = [listed for listed in listing.files if listed.label is not None]
    return listing


def list_images(data_dir: str | os.PathLike) -> Listing:
    """Every image file under ``data_dir``, labelled or not (for predictions).

    ``label`` is the file's label in the folder's layout and None for others
    (Kaggle's ``test1/`` holds ``N.jpg``); files that are not images are rejected.
    """
    listing = _list(data_dir, _extension_problem)
    listing.layout = layout_rules.detect_layout([listed.relative_path for listed in listing.files])
    if listing.layout != layout_rules.NAMES:
        listing.files = [
            ListedFile(
                f.relative_path, f.size_bytes, f.mtime_ns, label_of(f.relative_path, listing.layout)
            )
            for f in listing.files
        ]
    return listing


def _list(data_dir, name_problem) -> Listing:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root} (pass --data FOLDER)")
    listing = Listing(root=root.resolve())
    entries, rejected = _walk_files(root)
    for relative_path, status in entries:
        reason = name_problem(relative_path)
        if reason is not None:
            rejected.append({"path": relative_path, "reason": reason})
            continue
        listing.files.append(
            ListedFile(relative_path, status.st_size, status.st_mtime_ns, label_of(relative_path))
        )
    listing.rejected = sorted(rejected, key=lambda entry: entry["path"])
    return listing


def require_trainable(listing: Listing) -> None:
    """Raise DataError unless the listing holds images of at least two labels."""
    if not listing.files:
        raise DataError(
            f"no images named LABEL.N.jpg, .jpeg or .png under {listing.root}"
            f" ({len(listing.rejected)} other files)"
        )
    if len(listing.labels) < 2:
        raise DataError(
            f"found only the label {listing.labels[0]!r} under {listing.root};"
            " training needs at least two labels (files named LABEL.N.jpg, or folders LABEL/)"
        )
    clashes = layout_rules.case_clashes(listing.labels)
    if clashes:
        raise DataError(
            f"labels that differ only in case under {listing.root}: {clashes};"
            " rename the files (or folders) so that each label has one spelling"
        )


def _walk_files(root: Path) -> tuple[list, list[dict]]:
    """(sorted [(relative path, lstat result)] of regular files, [rejected entries])."""
    files, rejected = [], []
    folders = [(str(root), "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as scanned:
                entries = list(scanned)
        except OSError as error:
            reason = f"cannot list: {error.strerror}"
            rejected.append({"path": prefix.rstrip(os.sep) or ".", "reason": reason})
            continue
        for entry in entries:
            if entry.name.startswith("."):  # hidden folders and files (.git, .DS_Store)
                continue
            relative_path = prefix + entry.name
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError as error:
                rejected.append({"path": relative_path, "reason": f"cannot read: {error.strerror}"})
                continue
            reason = _entry_problem(entry.name, status.st_mode)
            if reason is not None:
                rejected.append({"path": relative_path, "reason": reason})
            elif stat.S_ISDIR(status.st_mode):
                folders.append((entry.path, relative_path + os.sep))
            else:
                files.append((relative_path, status))
    return sorted(files, key=lambda item: item[0]), rejected


def _entry_problem(name: str, mode: int) -> str | None:
    """Why a folder entry is not a file to decode nor a folder to walk; None if it is."""
    if stat.S_ISLNK(mode):
        return LINK_REASON
    if stat.S_ISDIR(mode):
        if name.lower().endswith(IMAGE_EXTENSIONS):
            return "a folder named like an image: not walked into"
        return None
    if not stat.S_ISREG(mode):
        return f"{file_kind(mode)}, not a regular file"
    return None


def _extension_problem(relative_path: str) -> str | None:
    if not relative_path.lower().endswith(IMAGE_EXTENSIONS):
        return "not an image file (expected .jpg, .jpeg or .png)"
    return None


def plan_shards(
    listing: Listing, shard_size: int, image_size: int, first_index=0, max_bytes=None
) -> list[dict]:
    """Cut the accepted files into shard specs with content-addressed keys.

    Files go into shards in a fixed order that mixes labels (by a hash of
    each path, the same for every seed, so every job shares the shard
    cache): a shard, or a window of a few streamed shards, is then a sample
    of the whole set, not one label. A shard holds at most ``shard_size``
    images and at most ``max_bytes`` of pixels (default
    ``CATDOG_SHARD_MAX_BYTES``), so no shard nears Redis's 512 MB value limit.
    ``first_index`` numbers the shards after those of another folder in the
    same job.
    """
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, received {shard_size}")
    per_shard = images_per_shard(shard_size, image_size, max_bytes)
    files = sorted(listing.files, key=mixing_order)
    shards = []
    for start in range(0, len(files), per_shard):
        chosen = files[start : start + per_shard]
        shards.append(
            {
                "key": shard_key(chosen, image_size),
                "index": first_index + len(shards),
                "paths": [listed.relative_path for listed in chosen],
                "image_size": image_size,
            }
        )
    return shards


def images_per_shard(shard_size: int, image_size: int, max_bytes=None) -> int:
    """``shard_size``, or fewer when that many images would pass ``max_bytes`` of pixels."""
    if max_bytes is None:
        from catdog_queue.shared import settings

        max_bytes = settings.shard_max_bytes()
    if max_bytes < 1:
        raise ValueError(f"a shard's byte cap must be at least 1, received {max_bytes}")
    return max(1, min(shard_size, max_bytes // (image_size * image_size * 3)))


def mixing_order(listed: ListedFile) -> bytes:
    """A deterministic, label-blind order: a hash of the relative path."""
    name = listed.relative_path.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(name, digest_size=8).digest() + name


def shard_key(files: list[ListedFile], image_size: int) -> str:
    """Same files (path, size, mtime) at the same size and preprocessing: same key."""
    identity = [
        PREPROCESSING_VERSION,
        image_size,
        [[f.relative_path, f.size_bytes, f.mtime_ns] for f in files],
    ]
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return f"catdog:shard:{digest}"
