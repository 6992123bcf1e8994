"""Decode one image file into a small uint8 RGB array, fast.

JPEG draft mode asks libjpeg to scale by 1/2, 1/4 or 1/8 while decoding (in
the DCT domain), which is several times faster than a full decode followed by
a resize. Any Pillow mode works: grayscale, CMYK, RGBA and palette images are
converted to RGB, 16-bit images are scaled down to 8 bits.
"""

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Bump when decoding changes what pixels come out: shard keys include it, so
# cached shards made by older code are not reused.
PREPROCESSING_VERSION = 1

# Images over the limit are refused by _refuse_bombs before any pixel is
# decoded; Pillow's own warning would only add log noise.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageRejected(ValueError):
    """A file that is not a usable image; the message is the reason."""


def decode_image(path, image_size: int, max_pixels: int) -> np.ndarray:
    """Return the image at ``path`` (or in a BytesIO) as a (S, S, 3) uint8 array."""
    try:
        with Image.open(path) as image:
            _refuse_bombs(image, max_pixels)
            image.draft("RGB", (image_size, image_size))
            image.load()
            if "exif" in image.info:  # parsing EXIF costs; most photos here have none
                ImageOps.exif_transpose(image, in_place=True)
            image = _to_rgb(image)
            image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as error:
        raise ImageRejected(f"decompression bomb: {error}") from None
    except UnidentifiedImageError:
        if _is_empty(path):  # checked only on failure: a stat per file is not free
            raise ImageRejected("empty file (0 bytes)") from None
        raise ImageRejected("not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as error:
        # Truncated or corrupt data surfaces as OSError or SyntaxError.
        raise ImageRejected(f"cannot decode: {error}") from None


def _is_empty(source) -> bool:
    if isinstance(source, io.BytesIO):
        return source.getbuffer().nbytes == 0
    return os.path.getsize(source) == 0


def _refuse_bombs(image: Image.Image, max_pixels: int) -> None:
    """Ours or Pillow's limit, whichever is lower, checked on the header alone."""
    width, height = image.size
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    if width * height > limit:
        raise ImageRejected(
            f"decompression bomb: {width}x{height} pixels is over the limit of"
            f" {limit} (CATDOG_MAX_IMAGE_PIXELS, at most Pillow's)"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        # convert("RGB") would clip 16-bit values at 255; scale them instead.
        wide = np.asarray(image, dtype=np.uint32) >> 8
        image = Image.fromarray(np.clip(wide, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white rather than whatever colour they hide.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == "RGB" else image.convert("RGB")


class DataFolderMissing(FileNotFoundError):
    """The worker cannot see the data folder (no shared disk): upload the files."""


def require_visible(data_root: str) -> None:
    """Fail fast, and say so, when this worker cannot see the client's files."""
    try:
        with os.scandir(data_root) as entries:
            if next(entries, None) is not None:
                return
    except OSError:
        pass
    raise DataFolderMissing(
        f"this worker cannot see {data_root} (missing or empty here); the client"
        " uploads the files through Redis (--upload)"
    )


class DataRootRefused(PermissionError):
    """A task asked a worker to read outside the folders it may read."""


def require_allowed_root(data_root: str, allowed_roots: list[str]) -> None:
    """Refuse a data folder outside every allowed root (``CATDOG_DATA_ROOT``).

    Without this, anyone who can send a task could make a worker read any
    file it can open (``/etc/shadow``) into Redis.
    """
    if not allowed_roots:
        raise DataRootRefused(
            "this worker may read no data: start it with CATDOG_DATA_ROOT set to the"
            " folder (or folders, separated by ':') that holds the images"
        )
    real_root = os.path.realpath(data_root)
    for allowed in allowed_roots:
        if os.path.commonpath([allowed, real_root]) == allowed:
            return
    raise DataRootRefused(
        f"{data_root} is outside the folders this worker may read ({', '.join(allowed_roots)});"
        " mount the data under CATDOG_DATA_ROOT, or pass --worker-data-dir"
    )


def resolve_inside(root: str | os.PathLike, relative_path: str, real_root=None) -> str:
    """The real path of ``root/relative_path``; ImageRejected if it leaves ``root``.

    ``real_root`` (``realpath(root)``, if the caller has it) saves resolving
    the root again for every file.
    """
    real_root = real_root or os.path.realpath(root)
    real_path = os.path.realpath(os.path.join(real_root, relative_path))
    if os.path.commonpath([real_root, real_path]) != real_root:
        raise ImageRejected("resolves outside the data folder")
    return real_path


def _checked_opener(root):
    """``resolve_inside`` for many files of few folders, at one ``lstat`` per file.

    Each folder is resolved once; a file that is not a link then lies in its
    resolved folder. Links (and odd names) take the full check.
    """
    real_root = os.path.realpath(root)
    real_folders = {"": real_root}

    def open_file(relative_path: str) -> str:
        folder, name = os.path.split(relative_path)
        if folder not in real_folders:
            real_folders[folder] = resolve_inside(root, folder, real_root)
        candidate = os.path.join(real_folders[folder], name)
        if name in ("", ".", "..") or os.path.islink(candidate):
            return resolve_inside(root, relative_path, real_root)
        return candidate

    return open_file


def decode_files(root, relative_paths, image_size, max_pixels, report=None, open_file=None):
    """Decode many files; returns (pixels (N, S, S, 3), used paths, rejected).

    ``rejected`` is a list of ``{"path", "reason"}``; ``report(done, total)``
    is called now and then so that callers can show progress. ``open_file``
    turns a relative path into what Pillow opens (a path under ``root`` by
    default; a BytesIO for uploaded files), or raises ImageRejected.
    """
    if open_file is None:
        open_file = _checked_opener(root)

    total = len(relative_paths)
    pixels = np.empty((total, image_size, image_size, 3), dtype=np.uint8)
    used_paths, rejected = [], []
    report_every = max(1, total // 20)
    for done, relative_path in enumerate(relative_paths, start=1):
        try:
            source = open_file(relative_path)
            pixels[len(used_paths)] = decode_image(source, image_size, max_pixels)
            used_paths.append(relative_path)
        except ImageRejected as reason:
            rejected.append({"path": relative_path, "reason": str(reason)})
        except OSError as error:
            rejected.append({"path": relative_path, "reason": f"cannot read: {error}"})
        if report is not None and (done % report_every == 0 or done == total):
            report(done, total)
    return pixels[: len(used_paths)], used_paths, rejected
