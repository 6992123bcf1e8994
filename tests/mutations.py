"""Mutated JPEG and PNG files for fuzzing the decoder: seeded, written into a folder.

Seeds are real photos (Kaggle's, when ``../shared/data`` has them) or generated
pictures, saved in every mode the decoder handles; each mutant is one seed
with bit flips, overwritten runs, a cut, or a header field changed (for PNG
with the chunk's CRC fixed, so that the damage reaches the decoder).
"""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

KAGGLE_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogs-vs-cats" / "train"


def seed_files(count: int, random) -> list[tuple[str, bytes]]:
    """(extension, bytes) of ``count`` valid images in assorted formats and modes."""
    pictures = _pictures(count, random)
    seeds = []
    for number, picture in enumerate(pictures):
        variant = number % 8
        if variant == 0:
            seeds.append(("jpg", _encode(picture, "JPEG", quality=90)))
        elif variant == 1:
            seeds.append(("jpg", _encode(picture, "JPEG", progressive=True)))
        elif variant == 2:
            seeds.append(("jpg", _encode(picture.convert("L"), "JPEG")))
        elif variant == 3:
            exif = Image.Exif()
            exif[0x0112] = int(random.integers(1, 9))
            seeds.append(("jpg", _encode(picture, "JPEG", exif=exif, subsampling=0)))
        elif variant == 4:
            seeds.append(("png", _encode(picture, "PNG")))
        elif variant == 5:
            seeds.append(("png", _encode(picture.convert("RGBA"), "PNG")))
        elif variant == 6:
            seeds.append(("png", _encode(picture.convert("P"), "PNG", transparency=0)))
        else:
            wide = (np.asarray(picture.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
            seeds.append(("png", _encode(Image.fromarray(wide), "PNG")))
    return seeds


def mutate(data: bytes, random) -> bytes:
    """One damaged copy of ``data``."""
    kind = random.integers(0, 5)
    mutable = bytearray(data)
    if kind == 0:  # bit flips anywhere
        for _ in range(int(random.integers(1, 12))):
            position = int(random.integers(0, len(mutable)))
            mutable[position] ^= 1 << int(random.integers(0, 8))
    elif kind == 1:  # a run of bytes overwritten
        start = int(random.integers(0, len(mutable)))
        length = int(random.integers(1, 64))
        fill = random.choice([0x00, 0xFF, int(random.integers(0, 256))])
        mutable[start : start + length] = bytes([fill]) * len(mutable[start : start + length])
    elif kind == 2:  # cut short
        return bytes(mutable[: int(random.integers(0, len(mutable)))])
    elif kind == 3:  # a header field changed
        return _change_header_field(bytes(mutable), random)
    else:  # bit flips in the first kilobyte, where the headers are
        for _ in range(int(random.integers(1, 6))):
            position = int(random.integers(0, min(1024, len(mutable))))
            mutable[position] ^= 1 << int(random.integers(0, 8))
    return bytes(mutable)


def write_mutants(folder: Path, count: int, seed: int) -> list[str]:
    """``count`` mutants named ``cat.N.jpg`` / ``dog.N.png``; returns their names."""
    random = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = seed_files(min(count, 40), random)
    names = []
    for number in range(count):
        extension, data = seeds[int(random.integers(0, len(seeds)))]
        name = f"{'cat' if extension == 'jpg' else 'dog'}.{number}.{extension}"
        (folder / name).write_bytes(mutate(data, random))
        names.append(name)
    return names


def _pictures(count: int, random) -> list[Image.Image]:
    if KAGGLE_TRAIN.is_dir():
        names = sorted(os.listdir(KAGGLE_TRAIN))
        chosen = random.choice(len(names), size=min(count, len(names)), replace=False)
        pictures = []
        for index in sorted(chosen):
            with Image.open(KAGGLE_TRAIN / names[index]) as image:
                pictures.append(image.convert("RGB"))
        return pictures
    pictures = []
    for _ in range(count):
        width, height = (int(side) for side in random.integers(20, 300, 2))
        noise = random.integers(0, 256, (height, width, 3), dtype=np.uint8)
        pictures.append(Image.fromarray(noise))
    return pictures


def _encode(image: Image.Image, format_name: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def _change_header_field(data: bytes, random) -> bytes:
    mutable = bytearray(data)
    if data.startswith(b"\x89PNG"):
        # IHDR: width, height, bit depth, colour type, ...; then fix its CRC.
        offset = int(random.choice([16, 18, 20, 22, 24, 25, 26, 27, 28]))
        mutable[offset] = int(random.integers(0, 256))
        crc = zlib.crc32(bytes(mutable[12:29]))
        mutable[29:33] = struct.pack(">I", crc)
        return bytes(mutable)
    frames = [data.find(marker) for marker in (b"\xff\xc0", b"\xff\xc2")]
    frame = max(frames)
    if frame < 0 or random.integers(0, 3) == 0:
        # Some other segment's length.
        segment = data.find(b"\xff\xc4")  # a Huffman table
        if segment > 0:
            mutable[segment + 2 : segment + 4] = struct.pack(">H", int(random.integers(0, 65536)))
        return bytes(mutable)
    # The frame header: precision, height, width, components, sampling factors.
    offset = frame + int(random.choice([4, 5, 6, 7, 8, 9, 11, 14]))
    if offset < len(mutable):
        mutable[offset] = int(random.integers(0, 256))
    return bytes(mutable)
