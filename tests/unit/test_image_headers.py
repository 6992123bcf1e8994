"""Telling JPEG and PNG from everything else, and reading JPEG headers without decoding."""

import io
import re
import struct

import numpy as np
import pytest
from PIL import Image

from catdog_queue.shared.image_headers import (
    UnsupportedFormat,
    image_format,
    png_size,
    read_jpeg_header,
)


def encoded(pixels_or_image, format_name, **options) -> bytes:
    image = pixels_or_image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def test_jpeg_and_png_are_recognised_by_content(gradient):
    assert image_format(encoded(gradient(8, 8), "JPEG")) == "JPEG"
    assert image_format(encoded(gradient(8, 8), "PNG")) == "PNG"


@pytest.mark.parametrize(
    ("format_name", "found"),
    [("GIF", "GIF"), ("TIFF", "TIFF"), ("WEBP", "WebP"), ("BMP", "BMP"), ("PDF", "PDF")],
)
def test_other_formats_are_named(gradient, format_name, found):
    with pytest.raises(UnsupportedFormat, match=rf"not a JPEG or PNG file \(found {found}\)"):
        image_format(encoded(gradient(8, 8), format_name))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "found EPS"),
        (b"\xc5\xd0\xd3\xc6" + bytes(40), "found EPS"),
        (b"\x00\x00\x00\x1cftypheic" + bytes(20), "found HEIF/AVIF"),
        (b"just some words\n", "holds text"),
        (b"\x00\x01\x02\x03\xfe\xff" + bytes(20), "neither JPEG nor PNG content"),
    ],
)
def test_unknown_content_gets_a_reason(content, reason):
    with pytest.raises(UnsupportedFormat, match=re.escape(reason)):
        image_format(content)


def test_png_size_comes_from_the_header(gradient):
    assert png_size(encoded(gradient(13, 7), "PNG")) == (13, 7)
    with pytest.raises(ValueError, match="IHDR"):
        png_size(encoded(gradient(13, 7), "PNG")[:20])


@pytest.mark.parametrize(
    ("options", "sampling", "multi_scan"),
    [
        ({"subsampling": 2}, ((2, 2), (1, 1), (1, 1)), False),  # 4:2:0
        ({"subsampling": 0}, ((1, 1), (1, 1), (1, 1)), False),  # 4:4:4
        ({"subsampling": 2, "progressive": True}, ((2, 2), (1, 1), (1, 1)), True),
    ],
)
def test_jpeg_header_fields(gradient, options, sampling, multi_scan):
    header = read_jpeg_header(encoded(gradient(100, 60), "JPEG", **options))

    assert (header.width, header.height) == (100, 60)
    assert header.precision == 8
    assert header.sampling == sampling
    assert header.multi_scan is multi_scan
    assert header.frame_marker == (0xC2 if multi_scan else 0xC0)
    assert header.orientation == 1


def test_grayscale_and_cmyk_components(gradient):
    gray = Image.fromarray(gradient(16, 16)).convert("L")
    cmyk = Image.fromarray(gradient(16, 16)).convert("CMYK")
    assert len(read_jpeg_header(encoded(gray, "JPEG")).sampling) == 1
    assert len(read_jpeg_header(encoded(cmyk, "JPEG")).sampling) == 4


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_read(gradient, orientation):
    exif = Image.Exif()
    exif[0x0110] = "a camera"  # another tag first: the orientation is not always the first
    exif[0x0112] = orientation
    data = encoded(gradient(16, 16), "JPEG", exif=exif)
    assert read_jpeg_header(data).orientation == orientation


def test_big_endian_exif_is_read(gradient):
    # Pillow writes little-endian EXIF; cameras often write big-endian ("MM").
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + bytes(4)
    app1 = b"Exif\x00\x00" + tiff
    plain = encoded(gradient(16, 16), "JPEG")
    data = plain[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + plain[2:]

    assert read_jpeg_header(data).orientation == 6


@pytest.mark.parametrize("garbage", [b"II*\x00\xff\xff\xff\xff", b"XX", b"MM\x00*\x00\x00\x00\x08"])
def test_unreadable_exif_means_no_rotation(gradient, garbage):
    app1 = b"Exif\x00\x00" + garbage
    plain = encoded(gradient(16, 16), "JPEG")
    data = plain[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + plain[2:]

    assert read_jpeg_header(data).orientation == 1


def test_coefficient_buffers_count_only_for_multi_scan_files(gradient):
    baseline = read_jpeg_header(encoded(gradient(160, 80), "JPEG", subsampling=2))
    progressive = read_jpeg_header(
        encoded(gradient(160, 80), "JPEG", subsampling=2, progressive=True)
    )

    assert baseline.coefficient_bytes() == 0
    # Luma 20x10 blocks, each chroma 10x5, 128 bytes a block.
    assert progressive.coefficient_bytes() == (200 + 50 + 50) * 128


@pytest.mark.parametrize("cut", [2, 4, 10, 30, 100])
def test_cut_headers_are_value_errors(gradient, cut):
    data = encoded(gradient(64, 64), "JPEG")
    with pytest.raises(ValueError):
        read_jpeg_header(data[: min(cut, data.index(b"\xff\xda") - 1)])


def test_a_zero_height_is_refused(gradient):
    data = bytearray(encoded(gradient(16, 16), "JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 7] = b"\x00\x00"
    with pytest.raises(ValueError, match="DNL height is not supported"):
        read_jpeg_header(bytes(data))
