"""Small generated data sets for tests: separable images and broken files."""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"cat": (200, 60, 60), "dog": (60, 60, 200)}


def make_separable_images(folder: Path, per_label: int = 40, side: int = 24, seed: int = 0) -> None:
    """``cat.N.jpg`` reddish, ``dog.N.png`` bluish, with noise: any model separates them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for label, colour in COLOURS.items():
        extension = "jpg" if label == "cat" else "png"
        for number in range(per_label):
            noise = rng.normal(0, 35, (side, side, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{label}.{number}.{extension}")


def png_bomb_bytes(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def add_broken_files(folder: Path, outside: Path) -> dict[str, str]:
    """Write broken files next to good ones; returns {relative path: reason fragment}."""
    good_jpeg = next(folder.glob("cat.*.jpg")).read_bytes()
    (folder / "cat.900.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (folder / "cat.901.jpg").write_bytes(b"")
    (folder / "dog.902.jpg").write_bytes(os.urandom(2048))
    (folder / "dog.903.jpg").write_text("this is not an image\n")
    (folder / "dog.904.png").write_bytes(png_bomb_bytes())
    (folder / "nolabel.jpg").write_bytes(good_jpeg)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.jpg").write_bytes(good_jpeg)
    (folder / "cat.905.jpg").symlink_to(outside / "secret.jpg")
    return {
        "cat.900.jpg": "cannot decode",
        "cat.901.jpg": "empty file",
        "dog.902.jpg": "not an image",
        "dog.903.jpg": "not an image",
        "dog.904.png": "decompression bomb",
        "nolabel.jpg": "LABEL.N.EXT",
        "cat.905.jpg": "outside the data folder",
    }


def write_catalogue(folder: Path, outside: Path) -> dict[str, tuple[str, str | None]]:
    """One file of every awkward kind; returns {case: (relative path, reason fragment)}.

    A reason fragment of None means the file must be accepted and decoded.
    """
    make_separable_images(folder, per_label=20)
    cases = add_broken_files(folder, outside)
    catalogue = {
        "truncated JPEG": ("cat.900.jpg", cases["cat.900.jpg"]),
        "zero-byte file": ("cat.901.jpg", cases["cat.901.jpg"]),
        "random bytes": ("dog.902.jpg", cases["dog.902.jpg"]),
        "text named .jpg": ("dog.903.jpg", cases["dog.903.jpg"]),
        "decompression bomb": ("dog.904.png", cases["dog.904.png"]),
        "name without a label": ("nolabel.jpg", cases["nolabel.jpg"]),
        "link out of the data folder": ("cat.905.jpg", cases["cat.905.jpg"]),
    }
    gradient = np.linspace(0, 255, 24 * 24 * 3).reshape(24, 24, 3).astype(np.uint8)
    rgb = Image.fromarray(gradient)
    rgb.save(folder / "cat.910.jpg", format="PNG")
    rgb.convert("L").save(folder / "cat.911.jpg")
    rgb.convert("CMYK").save(folder / "dog.912.jpg")
    rgb.convert("RGBA").save(folder / "dog.913.png")
    rgb.convert("P").save(folder / "cat.914.png")
    wide = (np.arange(24 * 24, dtype=np.uint16).reshape(24, 24) * 100).astype(np.uint16)
    Image.fromarray(wide).save(folder / "dog.915.png")  # uint16: a 16-bit PNG
    odd_name = b"cat.\xff\xfe916.jpg"
    rgb.save(os.path.join(os.fsencode(folder), odd_name), format="JPEG")
    catalogue |= {
        "PNG named .jpg": ("cat.910.jpg", None),
        "grayscale": ("cat.911.jpg", None),
        "CMYK": ("dog.912.jpg", None),
        "RGBA": ("dog.913.png", None),
        "palette": ("cat.914.png", None),
        "16-bit PNG": ("dog.915.png", None),
        "non-UTF-8 file name": (os.fsdecode(odd_name), None),
    }
    return catalogue


def make_separable_folders(folder: Path, per_label: int = 20, seed: int = 0) -> None:
    """The same images in Keras's layout: ``cat/N.jpg`` and ``dog/N.png``."""
    make_separable_images(folder / "flat", per_label=per_label, seed=seed)
    for image in sorted((folder / "flat").iterdir()):
        label, number, extension = image.name.split(".")
        (folder / label).mkdir(exist_ok=True)
        image.rename(folder / label / f"{number}.{extension}")
    (folder / "flat").rmdir()


# Formats Pillow reads and the workers must not; EPS would make Pillow run Ghostscript.
MINIMAL_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\n"
FAKE_GHOSTSCRIPT = '#!/bin/sh\ntouch "$GHOSTSCRIPT_MARKER"\nexit 1\n'


def other_formats(pixels: np.ndarray) -> dict[str, bytes]:
    """A small file of each format Pillow would read, keyed by the name in the reason."""
    image = Image.fromarray(pixels)
    files = {"EPS": MINIMAL_EPS}
    for name in ("GIF", "TIFF", "WebP", "BMP"):
        buffer = io.BytesIO()
        image.save(buffer, format=name.upper())
        files[name] = buffer.getvalue()
    return files


def install_fake_ghostscript(folder: Path) -> Path:
    """A ``gs`` in ``folder/bin`` that touches ``$GHOSTSCRIPT_MARKER``: proof that it ran.

    Returns the bin folder, to put first on PATH.
    """
    fake_bin = folder / "bin"
    fake_bin.mkdir()
    (fake_bin / "gs").write_text(FAKE_GHOSTSCRIPT)
    (fake_bin / "gs").chmod(0o755)
    return fake_bin
