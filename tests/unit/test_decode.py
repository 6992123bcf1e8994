"""Decoding one image file into a small uint8 RGB array, and rejecting bad files."""

import os
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from shared.decode import ImageRejected, decode_files, decode_image, resolve_inside

LIMIT = 89_478_485  # the default CATDOG_MAX_IMAGE_PIXELS


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def handmade_png(width: int, height: int, idat: bytes) -> bytes:
    """An 8-bit RGB PNG whose IHDR claims ``width`` x ``height``, with ``idat`` as data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def rejection(path, image_size=16, max_pixels=LIMIT) -> str:
    with pytest.raises(ImageRejected) as raised:
        decode_image(path, image_size, max_pixels)
    reason = str(raised.value)
    # Readable: one short line, not a traceback or a repr of bytes.
    assert reason
    assert "\n" not in reason
    assert "Traceback" not in reason
    assert len(reason) < 300
    return reason


# --- shape, dtype, draft mode -------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "image_size", "extension"),
    [
        (64, 48, 16, ".jpg"),
        (100, 100, 32, ".jpg"),
        (300, 200, 64, ".jpeg"),
        (20, 30, 64, ".jpg"),  # upscaled
        (64, 48, 16, ".png"),
        (7, 5, 1, ".png"),
    ],
)
def test_output_shape_and_dtype(
    tmp_path, gradient, save_image, width, height, image_size, extension
):
    path = save_image(tmp_path / f"cat.1{extension}", gradient(width, height))

    pixels = decode_image(path, image_size, LIMIT)

    assert isinstance(pixels, np.ndarray)
    assert pixels.shape == (image_size, image_size, 3)
    assert pixels.dtype == np.uint8


def test_jpeg_draft_mode_is_used_and_close_to_a_full_decode(
    tmp_path, gradient, save_image, monkeypatch
):
    path = save_image(tmp_path / "cat.1.jpg", gradient(256, 256), quality=95)
    original_draft = JpegImagePlugin.JpegImageFile.draft
    calls = []

    def recording_draft(self, mode, size):
        result = original_draft(self, mode, size)
        calls.append((mode, tuple(size), self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", recording_draft)

    drafted = decode_image(path, 32, LIMIT)

    # libjpeg was asked for RGB at 32x32 and scaled 256 -> 32 (1/8) while decoding.
    assert calls == [("RGB", (32, 32), (32, 32))]
    monkeypatch.undo()
    with Image.open(path) as image:
        full = np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    difference = np.abs(drafted.astype(np.int16) - full.astype(np.int16))
    assert difference.mean() < 3
    assert difference.max() < 40


def test_draft_keeps_enough_resolution_for_non_square_images(
    tmp_path, gradient, save_image, monkeypatch
):
    path = save_image(tmp_path / "cat.1.jpg", gradient(400, 120), quality=95)
    original_draft = JpegImagePlugin.JpegImageFile.draft
    sizes = []

    def recording_draft(self, mode, size):
        result = original_draft(self, mode, size)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", recording_draft)

    assert decode_image(path, 32, LIMIT).shape == (32, 32, 3)
    ((width, height),) = sizes
    assert width < 400  # scaled down while decoding...
    assert width >= 32 and height >= 32  # ...but never below the target size


# --- modes and colours ----------------------------------------------------------


def test_pure_red_stays_red(tmp_path, save_image):
    red = Image.new("RGB", (40, 40), (255, 0, 0))
    png = decode_image(save_image(tmp_path / "cat.1.png", red), 8, LIMIT)
    jpeg = decode_image(save_image(tmp_path / "cat.2.jpg", red), 8, LIMIT)

    assert np.all(png == [255, 0, 0])
    assert np.all(jpeg[..., 0] > 240)
    assert np.all(jpeg[..., 1:] < 15)


def test_channel_order_is_rgb(tmp_path, save_image):
    stripes = np.zeros((12, 12, 3), dtype=np.uint8)
    stripes[0:4, :, 0] = 255
    stripes[4:8, :, 1] = 255
    stripes[8:12, :, 2] = 255

    pixels = decode_image(save_image(tmp_path / "cat.1.png", stripes), 12, LIMIT)

    np.testing.assert_array_equal(pixels, stripes)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_grayscale_becomes_three_equal_channels(tmp_path, save_image, extension):
    gray = Image.new("L", (16, 16), 77)
    path = save_image(tmp_path / f"cat.1{extension}", gray)

    pixels = decode_image(path, 8, LIMIT)

    assert pixels.shape == (8, 8, 3)
    assert np.all(np.abs(pixels.astype(int) - 77) <= 2)
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 1])
    np.testing.assert_array_equal(pixels[..., 1], pixels[..., 2])


def test_cmyk_jpeg_becomes_rgb(tmp_path, save_image):
    cmyk_red = Image.new("CMYK", (32, 32), (0, 255, 255, 0))
    path = save_image(tmp_path / "cat.1.jpg", cmyk_red, quality=95)
    with Image.open(path) as image:
        assert image.mode == "CMYK"

    pixels = decode_image(path, 8, LIMIT)

    assert pixels.shape == (8, 8, 3)
    assert np.all(pixels[..., 0] > 220)
    assert np.all(pixels[..., 1:] < 35)


def test_rgba_transparent_becomes_white(tmp_path, save_image):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, :4] = (255, 0, 0, 0)  # fully transparent red: hidden colour
    rgba[:, 4:] = (0, 255, 0, 255)  # opaque green
    path = save_image(tmp_path / "cat.1.png", Image.fromarray(rgba, mode="RGBA"))

    pixels = decode_image(path, 8, LIMIT)

    assert np.all(pixels[:, :4] == [255, 255, 255])
    assert np.all(pixels[:, 4:] == [0, 255, 0])


def test_half_transparent_black_blends_with_white(tmp_path, save_image):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[...] = (0, 0, 0, 128)
    path = save_image(tmp_path / "cat.1.png", Image.fromarray(rgba, mode="RGBA"))

    pixels = decode_image(path, 4, LIMIT)

    assert np.all(np.abs(pixels.astype(int) - 127) <= 1)


def test_grayscale_with_alpha_becomes_white_where_transparent(tmp_path, save_image):
    la = Image.new("LA", (4, 4), (0, 0))
    path = save_image(tmp_path / "cat.1.png", la)

    assert np.all(decode_image(path, 4, LIMIT) == 255)


def palette_image(indices: np.ndarray) -> Image.Image:
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    return image


def test_palette_image_becomes_its_colours(tmp_path, save_image):
    indices = np.zeros((8, 8), dtype=np.uint8)
    indices[:, 4:] = 1
    path = save_image(tmp_path / "cat.1.png", palette_image(indices))
    with Image.open(path) as image:
        assert image.mode == "P"

    pixels = decode_image(path, 8, LIMIT)

    assert np.all(pixels[:, :4] == [255, 0, 0])
    assert np.all(pixels[:, 4:] == [0, 0, 255])


def test_palette_transparency_becomes_white(tmp_path, save_image):
    indices = np.zeros((8, 8), dtype=np.uint8)
    indices[:, 4:] = 1
    path = save_image(tmp_path / "cat.1.png", palette_image(indices), transparency=0)

    pixels = decode_image(path, 8, LIMIT)

    assert np.all(pixels[:, :4] == [255, 255, 255])
    assert np.all(pixels[:, 4:] == [0, 0, 255])


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path, save_image):
    wide = np.zeros((8, 8), dtype=np.uint16)
    wide[:4, :4] = 65535
    wide[:4, 4:] = 32768
    wide[4:, :4] = 0
    wide[4:, 4:] = 100 * 256
    path = save_image(tmp_path / "cat.1.png", wide)
    with Image.open(path) as image:
        assert image.mode.startswith("I")

    pixels = decode_image(path, 8, LIMIT)

    assert pixels.dtype == np.uint8
    assert np.all(pixels[:4, :4] == 255)
    assert np.all(np.abs(pixels[:4, 4:].astype(int) - 128) <= 1)
    assert np.all(pixels[4:, :4] == 0)
    assert np.all(np.abs(pixels[4:, 4:].astype(int) - 100) <= 1)
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_exif_orientation_is_applied(tmp_path, save_image):
    wide = np.zeros((16, 32, 3), dtype=np.uint8)
    wide[:, :16] = (255, 0, 0)  # left half red
    wide[:, 16:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: left goes to the top
    path = save_image(tmp_path / "cat.1.jpg", wide, exif=exif, quality=95)

    pixels = decode_image(path, 8, LIMIT).astype(int)

    top, bottom = pixels[:3], pixels[5:]
    assert np.all(top[..., 0] > 200) and np.all(top[..., 2] < 60)
    assert np.all(bottom[..., 2] > 200) and np.all(bottom[..., 0] < 60)


# --- rejected files -------------------------------------------------------------


def test_zero_byte_file_is_rejected(tmp_path):
    path = tmp_path / "cat.1.jpg"
    path.write_bytes(b"")
    assert "empty file" in rejection(path)


def test_truncated_jpeg_is_rejected(tmp_path, gradient, save_image):
    whole = save_image(tmp_path / "whole.jpg", gradient(128, 128)).read_bytes()
    path = tmp_path / "cat.1.jpg"
    path.write_bytes(whole[: len(whole) // 2])

    reason = rejection(path)

    assert reason.startswith("cannot decode")
    assert "truncated" in reason


def test_random_bytes_are_rejected(tmp_path):
    path = tmp_path / "cat.1.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert rejection(path) == "not an image Pillow can read"


def test_text_named_jpg_is_rejected(tmp_path):
    path = tmp_path / "cat.1.jpg"
    path.write_text("this is not a picture of a cat\n")
    assert rejection(path) == "not an image Pillow can read"


def test_missing_file_is_rejected(tmp_path):
    assert rejection(tmp_path / "cat.1.jpg").startswith("cannot decode")


def test_png_named_jpg_is_accepted(tmp_path, gradient, save_image):
    pixels = gradient(8, 8)
    path = save_image(tmp_path / "cat.1.jpg", pixels, format="PNG")

    np.testing.assert_array_equal(decode_image(path, 8, LIMIT), pixels)


def test_handmade_png_writer_makes_real_pngs(tmp_path):
    # Checks the helper behind the bomb tests: a small honest PNG decodes.
    rows = b"".join(b"\x00" + bytes([255, 0, 0]) * 2 for _ in range(2))
    path = tmp_path / "cat.1.png"
    path.write_bytes(handmade_png(2, 2, zlib.compress(rows)))

    assert np.all(decode_image(path, 2, LIMIT) == [255, 0, 0])


@pytest.mark.parametrize(
    ("width", "height", "max_pixels"),
    [
        (30_000, 30_000, LIMIT),  # over twice Pillow's limit: Pillow's error
        (10_000, 10_000, 10**12),  # between Pillow's limit and twice it: Pillow's warning
        (5_000, 5_000, 1_000_000),  # under Pillow's limit, over ours
    ],
)
def test_decompression_bomb_is_rejected_fast(tmp_path, width, height, max_pixels):
    path = tmp_path / "cat.1.png"
    path.write_bytes(handmade_png(width, height, zlib.compress(b"\x00" * 64)))

    started = time.perf_counter()
    reason = rejection(path, 32, max_pixels)

    assert time.perf_counter() - started < 1.0
    assert "decompression bomb" in reason


def test_max_pixels_applies_to_small_images(tmp_path, gradient, save_image):
    path = save_image(tmp_path / "cat.1.png", gradient(32, 32))

    reason = rejection(path, 8, max_pixels=10)

    assert "decompression bomb" in reason
    assert "32x32" in reason
    assert decode_image(path, 8, max_pixels=32 * 32).shape == (8, 8, 3)


# --- resolve_inside -------------------------------------------------------------


@pytest.fixture
def root_and_outside(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "cat.1.jpg").write_bytes(b"inside")
    outside = tmp_path / "data-evil"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"outside")
    return root, outside


def test_resolve_inside_returns_the_real_path(root_and_outside):
    root, _ = root_and_outside
    resolved = resolve_inside(root, os.path.join("sub", "cat.1.jpg"))
    assert resolved == os.path.realpath(root / "sub" / "cat.1.jpg")


def test_resolve_inside_follows_symlinks_that_stay_inside(root_and_outside):
    root, _ = root_and_outside
    (root / "dog.1.jpg").symlink_to(root / "sub" / "cat.1.jpg")
    assert resolve_inside(root, "dog.1.jpg") == os.path.realpath(root / "sub" / "cat.1.jpg")


def test_resolve_inside_works_through_a_symlinked_root(tmp_path, root_and_outside):
    root, _ = root_and_outside
    link = tmp_path / "link-to-data"
    link.symlink_to(root)
    assert resolve_inside(link, "sub/cat.1.jpg") == os.path.realpath(root / "sub" / "cat.1.jpg")


def test_resolve_inside_rejects_a_symlink_to_outside(root_and_outside):
    root, outside = root_and_outside
    (root / "cat.2.jpg").symlink_to(outside / "secret.jpg")
    with pytest.raises(ImageRejected, match="outside the data folder"):
        resolve_inside(root, "cat.2.jpg")


def test_resolve_inside_rejects_a_symlinked_folder_to_outside(root_and_outside):
    root, outside = root_and_outside
    (root / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ImageRejected, match="outside the data folder"):
        resolve_inside(root, "more/secret.jpg")


@pytest.mark.parametrize(
    "relative_path",
    ["../data-evil/secret.jpg", "sub/../../data-evil/secret.jpg", "..", "/etc/passwd"],
)
def test_resolve_inside_rejects_paths_that_leave_the_root(root_and_outside, relative_path):
    root, _ = root_and_outside
    with pytest.raises(ImageRejected, match="outside the data folder"):
        resolve_inside(root, relative_path)


# --- decode_files ---------------------------------------------------------------


def test_decode_files_splits_used_and_rejected(tmp_path, save_image, root_and_outside):
    root, outside = root_and_outside
    colours = {"cat.1.png": (255, 0, 0), "dog.1.png": (0, 255, 0), "cat.2.png": (0, 0, 255)}
    for name, colour in colours.items():
        save_image(root / name, np.full((6, 6, 3), colour, dtype=np.uint8))
    (root / "dog.2.jpg").write_text("not an image")
    (root / "dog.3.jpg").write_bytes(b"")
    (root / "cat.3.jpg").symlink_to(outside / "secret.jpg")
    order = [
        "dog.2.jpg",
        "cat.1.png",
        "cat.3.jpg",
        "dog.1.png",
        "dog.3.jpg",
        "missing.1.jpg",
        "cat.2.png",
    ]
    reports = []

    pixels, used, rejected = decode_files(root, order, 4, LIMIT, lambda *a: reports.append(a))

    assert used == ["cat.1.png", "dog.1.png", "cat.2.png"]
    assert [entry["path"] for entry in rejected] == [
        "dog.2.jpg",
        "cat.3.jpg",
        "dog.3.jpg",
        "missing.1.jpg",
    ]
    assert len(used) + len(rejected) == len(order)
    reasons = {entry["path"]: entry["reason"] for entry in rejected}
    assert "not an image" in reasons["dog.2.jpg"]
    assert "outside the data folder" in reasons["cat.3.jpg"]
    assert "empty file" in reasons["dog.3.jpg"]
    assert reasons["missing.1.jpg"]
    assert pixels.shape == (3, 4, 4, 3)
    assert pixels.dtype == np.uint8
    for row, path in zip(pixels, used):
        assert np.all(row == colours[path])
    assert reports[-1] == (len(order), len(order))
    assert [done for done, _ in reports] == sorted({done for done, _ in reports})
    assert {total for _, total in reports} == {len(order)}


def test_decode_files_reports_progress_in_steps_and_ends_at_total(tmp_path, save_image):
    names = [f"cat.{number}.png" for number in range(45)]
    for name in names:
        save_image(tmp_path / name, np.zeros((2, 2, 3), dtype=np.uint8))
    reports = []

    pixels, used, rejected = decode_files(
        tmp_path, names, 2, LIMIT, lambda done, total: reports.append((done, total))
    )

    assert len(pixels) == len(used) == 45
    assert rejected == []
    assert reports[-1] == (45, 45)
    assert 2 <= len(reports) <= 25  # now and then, not once per file
    dones = [done for done, _ in reports]
    assert dones == sorted(set(dones))


def test_decode_files_pixels_match_decode_image(tmp_path, gradient, save_image):
    names = ["cat.1.jpg", "dog.1.png"]
    save_image(tmp_path / names[0], gradient(50, 40))
    save_image(tmp_path / names[1], gradient(30, 60))

    pixels, used, rejected = decode_files(tmp_path, names, 16, LIMIT)

    assert used == names and rejected == []
    for row, name in zip(pixels, names):
        np.testing.assert_array_equal(row, decode_image(tmp_path / name, 16, LIMIT))


def test_decode_files_with_nothing_usable(tmp_path):
    (tmp_path / "cat.1.jpg").write_text("nope")

    pixels, used, rejected = decode_files(tmp_path, ["cat.1.jpg"], 8, LIMIT)

    assert pixels.shape == (0, 8, 8, 3)
    assert used == []
    assert [entry["path"] for entry in rejected] == ["cat.1.jpg"]
