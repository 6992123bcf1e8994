"""Decode one image file's bytes into a small uint8 RGB array: fast, bounded, JPEG and PNG only.

JPEG: simplejpeg (libjpeg-turbo, little overhead per call) scales by 1/2,
1/4 or 1/8 while decoding, in the DCT, at the scale Pillow's draft mode
picks (never below the target size), so it decodes the same pixels Pillow
would. EXIF orientation is read from the header and applied to that small
array, then a bilinear resize with Pillow's filter (antialiased: a weighted
average of every source pixel under the output pixel, never a
nearest-neighbour pick), done as two float32 matrix products: on images
this small Pillow's resize costs about twice as much, mostly per call. The
result is within 1 of Pillow's (which rounds to 8 bits between its passes).
JPEGs simplejpeg does not take (CMYK, 12-bit, lossless, arithmetic-coded,
or any complaint from libjpeg) go to Pillow's JPEG reader, which decides
as the decoder always did; PNG goes to Pillow's PNG reader
(``pillow_decode``). The reader is chosen by the file's first bytes
(``image_headers``): Pillow never guesses a format, so no other decoder
(Ghostscript for EPS) is ever reached.

Bounds, all from the header, before any pixel is decoded: the pixel count
(``max_pixels``, decompression bombs) and the memory the decode will hold
(``max_decode_bytes``: the decoded image as stored, the conversions alive
beside it, and libjpeg's whole-image buffers for progressive files).
Grayscale, palette, transparency (over white) and 16-bit images (scaled to
8 bits) all come out RGB.
"""

import contextlib
import functools

import numpy as np
import simplejpeg
from PIL import Image, JpegImagePlugin, PngImagePlugin

from catdog_queue.shared import image_headers
from catdog_queue.shared.data_access import DataFolder, ImageRejected
from catdog_queue.shared.pillow_decode import decode_with_pillow, refuse_over_budget, resize_image
from catdog_queue.shared.settings import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_FILE_BYTES

__all__ = ["PREPROCESSING_VERSION", "ImageRejected", "decode_files", "decode_image"]

# Bump when decoding changes what comes out (pixels, or which files are used):
# shard keys include it, so cached shards made by older code are not reused.
# 2: JPEG and PNG only, by content; simplejpeg and a float resize (within 1 of
#    Pillow's); transparency composited after the resize.
PREPROCESSING_VERSION = 2

_FAST_FRAMES = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive Huffman JPEG
# Multiply-adds of the larger of a resize's two products: over this, Pillow
# resizes (cheaper there; and OpenBLAS's default build runs any product up to
# this size on the calling thread).
_SERIAL_PRODUCT = 1 << 18
# simplejpeg's output (3 bytes a pixel) and its float32 copy for the resize (12).
_FAST_JPEG_BYTES = 15
_ORIENTATIONS = {  # EXIF orientation -> the array view Pillow's exif_transpose would make
    2: lambda pixels: pixels[:, ::-1],
    3: lambda pixels: pixels[::-1, ::-1],
    4: lambda pixels: pixels[::-1],
    5: lambda pixels: pixels.swapaxes(0, 1),
    6: lambda pixels: np.rot90(pixels, -1),
    7: lambda pixels: pixels[::-1, ::-1].swapaxes(0, 1),
    8: lambda pixels: np.rot90(pixels),
}


def decode_image(source, image_size: int, max_pixels: int, max_decode_bytes=None) -> np.ndarray:
    """The image in ``source`` (its bytes, or a trusted path) as a (S, S, 3) uint8 array."""
    if not isinstance(source, (bytes, bytearray, memoryview)):
        with open(source, "rb") as image_file:
            source = image_file.read()
    pixels = np.empty((image_size, image_size, 3), dtype=np.uint8)
    _decode_into(pixels, bytes(source), max_pixels, max_decode_bytes or DEFAULT_MAX_DECODE_BYTES)
    return pixels


def _decode_into(out: np.ndarray, data: bytes, max_pixels: int, budget: int) -> None:
    """Decode ``data`` into ``out``, (S, S, 3) uint8: a shard's row, written in place."""
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    try:
        if image_headers.image_format(data) == "PNG":
            width, height = image_headers.png_size(data)
            header = None
        else:
            header = image_headers.read_jpeg_header(data)
            width, height = header.width, header.height
    except image_headers.UnsupportedFormat as reason:
        raise ImageRejected(str(reason)) from None
    except ValueError as reason:
        raise ImageRejected(f"cannot decode: {reason}") from None
    if width * height > max_pixels:
        raise ImageRejected(
            f"decompression bomb: {width}x{height} pixels is over the limit of"
            f" {max_pixels} (CATDOG_MAX_IMAGE_PIXELS)"
        )
    if header is None:
        out[...] = decode_with_pillow(data, PngImagePlugin.PngImageFile, out.shape[0], budget)
    else:
        _decode_jpeg_into(out, data, header, budget)


def decode_files(
    root,
    relative_paths,
    image_size,
    max_pixels,
    report=None,
    read_file=None,
    *,
    allowed_roots=None,
    max_decode_bytes=DEFAULT_MAX_DECODE_BYTES,
    max_file_bytes=DEFAULT_MAX_FILE_BYTES,
    before_each=None,
):
    """Decode many files; returns (pixels (N, S, S, 3), used paths, rejected).

    ``rejected`` is a list of ``{"path", "reason"}``, one per file not used.
    ``report(done, total)`` is called now and then for progress.
    ``read_file(relative_path)`` gives a file's bytes (uploaded files); by
    default the files are read under ``root`` through ``DataFolder``, reached
    from ``allowed_roots`` when given. FileUnreadable (the machine's fault,
    not the file's) propagates: the caller must then store nothing.
    ``before_each(relative_path)`` runs before each file and may reject it.
    """
    with contextlib.ExitStack() as stack:
        if read_file is None:
            folder = stack.enter_context(DataFolder(root, allowed_roots))
            read_file = functools.partial(folder.read, max_bytes=max_file_bytes)
        total = len(relative_paths)
        pixels = np.empty((total, image_size, image_size, 3), dtype=np.uint8)
        used_paths, rejected = [], []
        report_every = max(1, total // 20)
        for done, relative_path in enumerate(relative_paths, start=1):
            try:
                if before_each is not None:
                    before_each(relative_path)
                data = read_file(relative_path)
                _decode_into(pixels[len(used_paths)], data, max_pixels, max_decode_bytes)
                used_paths.append(relative_path)
            except ImageRejected as reason:
                rejected.append({"path": relative_path, "reason": str(reason)})
            if report is not None and (done % report_every == 0 or done == total):
                report(done, total)
    return pixels[: len(used_paths)], used_paths, rejected


def draft_scale(width: int, height: int, image_size: int) -> int:
    """1, 2, 4 or 8: the largest that keeps both sides at least ``image_size`` (as Pillow)."""
    most = min(width // image_size, height // image_size)
    return 8 if most >= 8 else 4 if most >= 4 else 2 if most >= 2 else 1


def _decode_jpeg_into(out: np.ndarray, data: bytes, header, budget: int) -> None:
    image_size = out.shape[0]
    scale = draft_scale(header.width, header.height, image_size)
    width, height = -(-header.width // scale), -(-header.height // scale)
    coefficients = header.coefficient_bytes() if header.multi_scan else 0
    needed = coefficients + width * height * _FAST_JPEG_BYTES
    if needed > budget:
        refuse_over_budget(needed, budget, header.width, header.height, "JPEG")
    channels = len(header.sampling)
    if header.precision == 8 and channels in (1, 3) and header.frame_marker in _FAST_FRAMES:
        # Asked for exactly the draft size: simplejpeg picks the same scale as Pillow.
        minimum = (height, width) if scale > 1 else (0, 0)
        try:
            pixels = simplejpeg.decode_jpeg(
                data,
                colorspace="GRAY" if channels == 1 else "RGB",
                min_height=minimum[0],
                min_width=minimum[1],
            )
        except ValueError:
            pass  # libjpeg complained (maybe a mere warning): Pillow decides, as before
        else:
            if header.orientation in _ORIENTATIONS:
                pixels = _ORIENTATIONS[header.orientation](pixels)
            _resize_into(out, pixels)
            return
    reader = JpegImagePlugin.JpegImageFile
    out[...] = decode_with_pillow(data, reader, image_size, budget, coefficients)


def _resize(pixels: np.ndarray, image_size: int) -> np.ndarray:
    """A decoded (H, W, 1 or 3) array resized to a new (S, S, 3) one."""
    out = np.empty((image_size, image_size, 3), dtype=np.uint8)
    _resize_into(out, pixels)
    return out


def _resize_into(out: np.ndarray, pixels: np.ndarray) -> None:
    """A decoded (H, W, 1 or 3) array into ``out`` (S, S, 3): along rows, then columns.

    Small images (all that DCT scaling leaves at 32 px): two matrix products,
    a handful of numpy calls instead of Pillow's dozens of Python lines,
    written straight into the shard. Larger ones: Pillow's resize, which skips
    the zero weights, and so that no product is large enough for BLAS to start
    threads: in a worker with one process per core they only fight each other
    (a 64 px decode measured 14 times slower with OpenBLAS's threads, under
    load). A gray channel is copied to all three.
    """
    image_size = out.shape[0]
    height, width, channels = pixels.shape
    if image_size * channels * width * max(height, image_size) > _SERIAL_PRODUCT:
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
        resized = np.asarray(resize_image(image, image_size))
        out[...] = resized[..., None] if channels == 1 else resized
        return
    # Rows first, on the pixels as they come (H, W*C); then the columns of each
    # channel, (S*C, W): two plain products, both operands contiguous.
    rows = _bilinear_weights(height, image_size) @ pixels.reshape(height, -1).astype(np.float32)
    columns = rows.reshape(image_size, width, channels).transpose(0, 2, 1)
    resized = columns.reshape(-1, width) @ _transposed_weights(width, image_size)  # (S*C, S)
    # +0.5, then the cast truncates: rounding, as the weights are positive and
    # sum to 1, so 0 <= value < 256.
    resized += 0.5
    out[...] = resized.reshape(image_size, channels, image_size).transpose(0, 2, 1)


@functools.lru_cache(maxsize=256)
def _transposed_weights(source_size: int, image_size: int) -> np.ndarray:
    """``_bilinear_weights`` as (source_size, image_size), contiguous: BLAS's fast layout."""
    return np.ascontiguousarray(_bilinear_weights(source_size, image_size).T)


@functools.lru_cache(maxsize=256)
def _bilinear_weights(source_size: int, image_size: int) -> np.ndarray:
    """(image_size, source_size) weights of Pillow's bilinear filter, as float32.

    Shrinking widens the triangle to the scale, so each output pixel averages
    all the source pixels it covers (no aliasing); enlarging interpolates.
    """
    scale = source_size / image_size
    support = max(scale, 1.0)
    centres = (np.arange(image_size) + 0.5) * scale
    positions = np.arange(source_size) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(positions - centres[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
