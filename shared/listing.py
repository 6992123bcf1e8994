"""Find labelled images (``LABEL.N.jpg``) under a folder and cut them into shards.

The label is the part of the file name before the first dot, as in Kaggle's
Dogs vs. Cats ``train/`` folder. Labels are sorted by name, so the
label-to-index map is the same on every machine.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from shared.decode import PREPROCESSING_VERSION

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
LABELLED_NAME = re.compile(r"^(?P<label>[^.]+)\.[^.]+\.(?:jpe?g|png)$", re.IGNORECASE)


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

    @property
    def labels(self) -> list[str]:
        return sorted({listed.label for listed in self.files if listed.label is not None})

    @property
    def total(self) -> int:
        return len(self.files) + len(self.rejected)


def label_of(relative_path: str) -> str | None:
    """The label in a ``LABEL.N.EXT`` file name, or None if the name has none."""
    match = LABELLED_NAME.match(os.path.basename(relative_path))
    return match.group("label") if match else None


def list_labelled_images(data_dir: str | os.PathLike) -> Listing:
    """Every file under ``data_dir``: accepted when named ``LABEL.N.EXT``, else rejected."""
    return _list(data_dir, _name_problem)


def list_images(data_dir: str | os.PathLike) -> Listing:
    """Every image file under ``data_dir``, labelled or not (for predictions).

    ``label`` is the ``LABEL`` of ``LABEL.N.EXT`` names and None for others
    (Kaggle's ``test1/`` holds ``N.jpg``); files that are not images are rejected.
    """
    return _list(data_dir, _extension_problem)


def _list(data_dir, name_problem) -> Listing:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root} (pass --data FOLDER)")
    listing = Listing(root=root.resolve())
    for relative_path in _walk_files(root):
        reason = name_problem(relative_path)
        if reason is None:
            try:
                status = os.stat(root / relative_path)
            except OSError as error:
                reason = f"cannot read file: {error.strerror}"
        if reason is not None:
            listing.rejected.append({"path": relative_path, "reason": reason})
            continue
        listing.files.append(
            ListedFile(relative_path, status.st_size, status.st_mtime_ns, label_of(relative_path))
        )
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
            " training needs at least two labels (files named LABEL.N.jpg)"
        )


def _walk_files(root: Path) -> list[str]:
    relative_paths = []
    for folder, subfolders, names in os.walk(root):
        # Hidden folders and files (.git, .DS_Store) are not data.
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            if not name.startswith("."):
                full_path = os.path.join(folder, name)
                relative_paths.append(os.path.relpath(full_path, root))
    return sorted(relative_paths)


def _extension_problem(relative_path: str) -> str | None:
    if not relative_path.lower().endswith(IMAGE_EXTENSIONS):
        return "not an image file (expected .jpg, .jpeg or .png)"
    return None


def _name_problem(relative_path: str) -> str | None:
    problem = _extension_problem(relative_path)
    if problem is not None:
        return problem
    if LABELLED_NAME.match(os.path.basename(relative_path)) is None:
        return "name does not follow LABEL.N.EXT (e.g. cat.1.jpg)"
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
        from shared import settings

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
