"""Images for Pillow: PNG, and the JPEGs simplejpeg does not take (CMYK, 12-bit...).

The reader is a Pillow plugin class chosen by the caller from the file's
first bytes, opened directly: Pillow guesses no format, so no other decoder
(Ghostscript for EPS) is ever reached, and its pixel limit is not applied
(``CATDOG_MAX_IMAGE_PIXELS`` is checked before, and may be above Pillow's).

Memory: the decoded image's size comes from its header before any pixel is
decoded, times the bytes a pixel its mode holds at the peak (the image as
Pillow stores it, plus the conversions alive beside it); over the budget,
the file is rejected. Conversions come after the resize where they can, so
the peak stays near twice the decoded image (it was four to five times).
"""

import io

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin

from catdog_queue.shared.data_access import ImageRejected

# Bytes a pixel at a decode's peak, by Pillow mode: the decoded image (Pillow
# keeps 3- and 4-band pixels in 4 bytes) plus what _to_rgb converts it to.
# Checked against the process's peak resident memory in tests/unit/test_decode.py.
_WORKING_BYTES = {"1": 2, "L": 1, "P": 5, "RGB": 4, "CMYK": 8, "LA": 8, "RGBA": 8, "I": 13}
_WORKING_BYTES |= {"I;16": 6, "I;16B": 6, "I;16L": 6, "I;16N": 6, "transparent P": 9}
_MOST_WORKING_BYTES = 16  # any other mode


def decode_with_pillow(data, reader, image_size, budget, fixed_bytes=0) -> np.ndarray:
    """``data`` read by ``reader`` (a Pillow plugin class) as a (S, S, 3) uint8 array.

    ``fixed_bytes``: memory the decode takes besides the pixels (libjpeg's
    coefficient buffers), counted against ``budget`` with them.
    """
    try:
        with reader(io.BytesIO(data)) as image:
            if reader is JpegImagePlugin.JpegImageFile:
                image.draft("RGB", (image_size, image_size))
            mode = image.mode
            if mode == "P" and "transparency" in image.info:
                mode = "transparent P"
            needed = fixed_bytes + image.width * image.height * _WORKING_BYTES.get(
                mode, _MOST_WORKING_BYTES
            )
            refuse_over_budget(needed, budget, *image.size, image.mode)
            image.load()
            if "exif" in image.info:  # parsing EXIF costs; most photos here have none
                ImageOps.exif_transpose(image, in_place=True)
            return _to_rgb(image, image_size)
    except ImageRejected:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        # Truncated or corrupt data surfaces as OSError, SyntaxError or EOFError.
        if str(error) == "not identified by this driver":  # Pillow's words for a bad header
            error = f"a damaged {reader.format} header"
        raise ImageRejected(f"cannot decode: {error}") from None


def refuse_over_budget(needed: int, budget: int, width: int, height: int, kind: str) -> None:
    if needed > budget:
        raise ImageRejected(
            f"too large to decode: {width}x{height} {kind} needs about {needed >> 20} MiB,"
            f" over the {budget >> 20} MiB an image may take (CATDOG_MAX_DECODE_BYTES;"
            " raise it, or make the image smaller)"
        )


def _to_rgb(image: Image.Image, image_size: int) -> np.ndarray:
    """Any mode to (S, S, 3) uint8, resizing before the costly conversions where it can."""
    mode = image.mode
    if mode.startswith("I"):
        image = Image.fromarray(_eight_bits(image), mode="L")
    elif mode == "1":
        image = image.convert("L")  # Pillow resizes 1-bit and palette images by nearest pixel
    if mode in ("P", "PA") and ("transparency" in image.info or mode == "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        # Resize with premultiplied alpha, then put the result over white:
        # a transparent pixel adds nothing of the colour it hides.
        premultiplied = image.convert({"RGBA": "RGBa", "LA": "La"}[image.mode])
        small = np.asarray(resize_image(premultiplied, image_size), dtype=np.uint16)
        over_white = small[..., :-1] + (255 - small[..., -1:])
        return three_channels(np.minimum(over_white, 255).astype(np.uint8))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")  # palette, CMYK
    return three_channels(np.asarray(resize_image(image, image_size)))


def _eight_bits(image: Image.Image) -> np.ndarray:
    """16- or 32-bit grayscale scaled to 8 bits: ``convert`` would clip at 255 instead."""
    wide = np.asarray(image)
    if wide.dtype.itemsize == 2:  # keep the high byte, without a wider copy
        high = 0 if wide.dtype.byteorder == ">" else 1
        return np.ascontiguousarray(wide.view(np.uint8).reshape(*wide.shape, 2)[..., high])
    return np.clip(wide >> 8, 0, 255).astype(np.uint8)


def resize_image(image: Image.Image, image_size: int) -> Image.Image:
    return image.resize((image_size, image_size), Image.Resampling.BILINEAR)


def three_channels(pixels: np.ndarray) -> np.ndarray:
    """(S, S), (S, S, 1) or (S, S, 3) pixels as (S, S, 3)."""
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return pixels
