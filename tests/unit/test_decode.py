"""Decoding one image file into a small uint8 RGB array, and rejecting bad files."""

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import simplejpeg
from PIL import Image, ImageFile, ImageOps

from catdog_queue.shared import decode
from catdog_queue.shared.data_access import FileUnreadable
from catdog_queue.shared.decode import ImageRejected, decode_files, decode_image
from tests.images import MINIMAL_EPS, install_fake_ghostscript, other_formats

LIMIT = 89_478_485  # the default CATDOG_MAX_IMAGE_PIXELS


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def handmade_png(width: int, height: int, idat: bytes, depth=8, colour_type=2) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (8-bit RGB unless told), with ``idat``."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def assert_within_one(pixels, expected):
    """Equal but for rounding: our resize keeps floats where Pillow rounds between passes."""
    assert pixels.shape == expected.shape
    assert np.abs(pixels.astype(np.int16) - expected.astype(np.int16)).max() <= 1


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


@pytest.fixture
def pixels_decoded(monkeypatch) -> list[str]:
    """The decoders' entry points called during a test (Pillow's load, simplejpeg's
    decode), each noted before it runs."""
    calls = []
    pillow_load = ImageFile.ImageFile.load
    jpeg_decode = simplejpeg.decode_jpeg

    def noted_load(image, *args, **kwargs):
        calls.append("Pillow load")
        return pillow_load(image, *args, **kwargs)

    def noted_decode(*args, **kwargs):
        calls.append("simplejpeg decode")
        return jpeg_decode(*args, **kwargs)

    monkeypatch.setattr(ImageFile.ImageFile, "load", noted_load)
    monkeypatch.setattr(simplejpeg, "decode_jpeg", noted_decode)
    return calls


def test_the_decoder_spy_sees_a_decode(tmp_path, pixels_decoded):
    """The spy above is wired to the decoders that really run."""
    Image.new("RGB", (40, 30), "red").save(tmp_path / "a.png")
    Image.new("RGB", (40, 30), "red").save(tmp_path / "a.jpg")
    pixels_decoded.clear()  # saving loads too
    decode_image(tmp_path / "a.png", 8, LIMIT)
    assert "Pillow load" in pixels_decoded
    pixels_decoded.clear()
    decode_image(tmp_path / "a.jpg", 8, LIMIT)
    assert pixels_decoded == ["simplejpeg decode"]


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


@pytest.fixture
def decoded_sizes(monkeypatch):
    """The sizes simplejpeg decodes to: what DCT scaling gave before the resize."""
    sizes = []
    original = decode.simplejpeg.decode_jpeg

    def recording(*args, **kwargs):
        pixels = original(*args, **kwargs)
        sizes.append(pixels.shape[:2])
        return pixels

    monkeypatch.setattr(decode.simplejpeg, "decode_jpeg", recording)
    return sizes


def pillow_draft(path, image_size) -> np.ndarray:
    """The decoder before simplejpeg: Pillow's draft mode, RGB, bilinear resize."""
    with Image.open(path) as image:
        image.draft("RGB", (image_size, image_size))
        image = image.convert("RGB")
        return np.asarray(image.resize((image_size, image_size), Image.Resampling.BILINEAR))


def test_jpeg_is_scaled_while_decoding_and_close_to_a_full_decode(
    tmp_path, gradient, save_image, decoded_sizes
):
    path = save_image(tmp_path / "cat.1.jpg", gradient(256, 256), quality=95)

    drafted = decode_image(path, 32, LIMIT)

    # libjpeg scaled 256 -> 32 (1/8) while decoding.
    assert decoded_sizes == [(32, 32)]
    with Image.open(path) as image:
        full = np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    difference = np.abs(drafted.astype(np.int16) - full.astype(np.int16))
    assert difference.mean() < 3
    assert difference.max() < 40


def test_draft_keeps_enough_resolution_for_non_square_images(
    tmp_path, gradient, save_image, decoded_sizes
):
    path = save_image(tmp_path / "cat.1.jpg", gradient(400, 120), quality=95)

    assert decode_image(path, 32, LIMIT).shape == (32, 32, 3)
    ((height, width),) = decoded_sizes
    assert width < 400  # scaled down while decoding...
    assert width >= 32 and height >= 32  # ...but never below the target size


@pytest.mark.parametrize(
    ("width", "height", "image_size", "options"),
    [
        (200, 200, 32, {}),  # Kaggle's copies: 1/4
        (480, 320, 32, {"subsampling": 0}),  # 4:4:4, 1/8
        (100, 100, 32, {"subsampling": 1}),  # 4:2:2, 1/2 (simplejpeg alone would take 3/8)
        (333, 77, 20, {"progressive": True}),
        (64, 48, 64, {}),  # upscaled, no DCT scaling
        (37, 250, 8, {"quality": 40}),
        (9, 9, 16, {}),
    ],
)
def test_jpeg_pixels_match_pillows_draft_decode(
    tmp_path, gradient, save_image, decoded_sizes, width, height, image_size, options
):
    # simplejpeg at the scale Pillow's draft picks, then the same filter.
    path = save_image(tmp_path / "cat.1.jpg", gradient(width, height), **options)

    pixels = decode_image(path, image_size, LIMIT)

    assert len(decoded_sizes) == 1  # the fast path decoded it
    with Image.open(path) as image:
        image.draft("RGB", (image_size, image_size))
        assert decoded_sizes[0] == (image.height, image.width)  # the same DCT scale
    assert_within_one(pixels, pillow_draft(path, image_size))


def test_grayscale_jpeg_pixels_match_pillows_draft_decode(tmp_path, gradient, save_image):
    gray = Image.fromarray(gradient(120, 90)).convert("L")
    path = save_image(tmp_path / "cat.1.jpg", gray)

    assert_within_one(decode_image(path, 16, LIMIT), pillow_draft(path, 16))


def test_jpegs_simplejpeg_refuses_go_to_pillow(tmp_path, gradient, save_image, decoded_sizes):
    # A CMYK JPEG: four components, which the fast path does not take.
    cmyk = Image.fromarray(gradient(64, 64)).convert("CMYK")
    path = save_image(tmp_path / "cat.1.jpg", cmyk)

    np.testing.assert_array_equal(decode_image(path, 16, LIMIT), pillow_draft(path, 16))
    assert decoded_sizes == []


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


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(
    tmp_path, gradient, save_image, orientation
):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save_image(tmp_path / "cat.1.jpg", gradient(96, 40), exif=exif, quality=95)
    with Image.open(path) as image:
        image.draft("RGB", (16, 16))
        turned = ImageOps.exif_transpose(image)
        expected = np.asarray(turned.resize((16, 16), Image.Resampling.BILINEAR))

    assert_within_one(decode_image(path, 16, LIMIT), expected)


@pytest.mark.parametrize("seed", range(40))
def test_resize_matches_pillows_bilinear_filter(seed):
    random = np.random.default_rng(seed)
    height, width = random.integers(1, 400, 2)
    image_size = int(random.integers(1, 100))
    channels = int(random.choice([1, 3]))
    pixels = random.integers(0, 256, (height, width, channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    expected = np.asarray(image.resize((image_size, image_size), Image.Resampling.BILINEAR))

    resized = decode._resize(pixels, image_size)

    assert_within_one(resized[..., 0] if channels == 1 else resized, expected)


def test_shrinking_averages_instead_of_picking_pixels():
    # One-pixel black and white stripes: nearest-neighbour shrinking would keep
    # one colour; an area-like filter gives gray.
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255

    resized = decode._resize(stripes, 8).astype(int)

    assert np.all(np.abs(resized - 128) <= 5)  # the edges see a few stripes less
    assert np.all(np.abs(resized[:, 1:-1] - 128) <= 1)


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


def test_a_cut_header_is_rejected(tmp_path, gradient, save_image):
    whole = save_image(tmp_path / "whole.jpg", gradient(64, 64)).read_bytes()
    for cut in (3, 20, 100, whole.index(b"\xff\xda")):
        path = tmp_path / f"cat.{cut}.jpg"
        path.write_bytes(whole[:cut])
        assert rejection(path).startswith("cannot decode")


def test_random_bytes_are_rejected(tmp_path):
    path = tmp_path / "cat.1.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert rejection(path).startswith("not an image: neither JPEG nor PNG content")


def test_text_named_jpg_is_rejected(tmp_path):
    path = tmp_path / "cat.1.jpg"
    path.write_text("this is not a picture of a cat\n")
    assert rejection(path) == "not an image: the file holds text, not JPEG or PNG data"


@pytest.mark.parametrize("found", ["EPS", "GIF", "TIFF", "WebP", "BMP"])
def test_other_formats_named_jpg_are_rejected_naming_the_format(tmp_path, gradient, found):
    path = tmp_path / "cat.9999.jpg"
    path.write_bytes(other_formats(gradient(16, 16))[found])
    with Image.open(path) as image:
        assert image.format is not None  # Pillow itself would have read it

    reason = rejection(path)

    assert reason.startswith("not a JPEG or PNG file (found ")
    assert found in reason


OPEN_EPS = """
import sys
from PIL import Image
from catdog_queue.shared.decode import ImageRejected, decode_image
if sys.argv[2] == "pillow":
    try:
        Image.open(sys.argv[1]).load()
    except OSError:
        pass
else:
    try:
        decode_image(sys.argv[1], 8, 10**8)
    except ImageRejected as reason:
        print(reason)
"""


def test_ghostscript_is_never_run(tmp_path):
    fake_bin = install_fake_ghostscript(tmp_path)
    eps = tmp_path / "cat.9999.jpg"
    eps.write_bytes(MINIMAL_EPS)

    def open_eps(how: str, marker):
        environment = os.environ | {
            "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
            "GHOSTSCRIPT_MARKER": str(marker),
            "PYTHONPATH": os.getcwd(),
        }
        return subprocess.run(
            [sys.executable, "-c", OPEN_EPS, str(eps), how],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # The fake works: Pillow left to itself runs it.
    open_eps("pillow", tmp_path / "pillow-ran-gs")
    assert (tmp_path / "pillow-ran-gs").exists()

    ours = open_eps("ours", tmp_path / "we-ran-gs")

    assert ours.returncode == 0, ours.stderr
    assert "found EPS" in ours.stdout
    assert not (tmp_path / "we-ran-gs").exists()


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
    ("width", "height", "max_pixels", "fragment"),
    [
        (30_000, 30_000, LIMIT, "decompression bomb"),  # over twice Pillow's limit
        (5_000, 5_000, 1_000_000, "decompression bomb"),  # under Pillow's limit, over ours
        # Our limit raised over Pillow's: the memory budget still refuses it.
        (10_000, 10_000, 10**12, "too large to decode"),
    ],
)
def test_decompression_bomb_is_rejected_unread(
    tmp_path, width, height, max_pixels, fragment, pixels_decoded
):
    path = tmp_path / "cat.1.png"
    path.write_bytes(handmade_png(width, height, zlib.compress(b"\x00" * 64)))

    reason = rejection(path, 32, max_pixels)

    assert pixels_decoded == []  # refused on the header
    assert fragment in reason


@pytest.mark.parametrize(
    ("depth", "colour_type", "mode"),
    [(8, 6, "RGBA"), (16, 0, "I;16"), (8, 4, "LA"), (8, 2, "RGB")],
)
def test_images_over_the_memory_budget_are_refused_before_decoding(
    tmp_path, depth, colour_type, mode, pixels_decoded
):
    # 9000 x 9000 is under the pixel limit; decoded, each would take over 256 MiB.
    path = tmp_path / "cat.1.png"
    path.write_bytes(handmade_png(9000, 9000, zlib.compress(b"\x00" * 64), depth, colour_type))

    reason = rejection(path, 32)

    assert pixels_decoded == []  # refused on the header: nothing was decoded
    assert reason.startswith(f"too large to decode: 9000x9000 {mode} needs about")
    assert "over the 256 MiB an image may take (CATDOG_MAX_DECODE_BYTES" in reason


def test_jpegs_count_only_what_dct_scaling_leaves_but_all_coefficients_if_progressive(
    tmp_path, gradient, save_image
):
    pixels = gradient(1600, 1200)
    baseline = save_image(tmp_path / "cat.1.jpg", pixels)
    progressive = save_image(tmp_path / "cat.2.jpg", pixels, progressive=True)
    budget = 4 * 2**20  # under a full decode (5.5 MiB); far over 200x150 at 1/8

    assert decode_image(baseline, 32, LIMIT, budget).shape == (32, 32, 3)
    with pytest.raises(ImageRejected, match="too large to decode: 1600x1200 JPEG"):
        decode_image(progressive, 32, LIMIT, budget)  # 5.5 MiB of DCT coefficients
    assert decode_image(progressive, 32, LIMIT, 8 * 2**20).shape == (32, 32, 3)


MEASURE_PEAK = """
import resource, sys
from catdog_queue.shared.decode import decode_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
decode_image(data, 32, 10**9)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.parametrize(("mode", "bytes_a_pixel"), [("RGBA", 8), ("I;16", 6), ("RGB", 4)])
def test_a_decode_stays_within_its_estimate(tmp_path, mode, bytes_a_pixel):
    # The budget is checked against an estimate: check the estimate against the truth.
    side = 3000
    image = Image.new(mode, (side, side), 60000 if mode == "I;16" else None)
    image.save(tmp_path / "cat.1.png")

    measured = subprocess.run(
        [sys.executable, "-c", MEASURE_PEAK, str(tmp_path / "cat.1.png")],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": os.getcwd()},
    )

    assert measured.returncode == 0, measured.stderr
    peak_growth = int(measured.stdout)
    assert peak_growth <= side * side * bytes_a_pixel * 1.1 + 8 * 2**20


def test_the_pixel_limit_may_be_raised_over_pillows(tmp_path, gradient, save_image, monkeypatch):
    path = save_image(tmp_path / "cat.1.png", gradient(40, 30))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's check would refuse it

    assert decode_image(path, 8, max_pixels=1200).shape == (8, 8, 3)
    assert "decompression bomb" in rejection(path, 8, max_pixels=1199)


def test_max_pixels_applies_to_small_images(tmp_path, gradient, save_image):
    path = save_image(tmp_path / "cat.1.png", gradient(32, 32))

    reason = rejection(path, 8, max_pixels=10)

    assert "decompression bomb" in reason
    assert "32x32" in reason
    assert decode_image(path, 8, max_pixels=32 * 32).shape == (8, 8, 3)


# --- decode_files ---------------------------------------------------------------


@pytest.fixture
def root_and_outside(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    outside = tmp_path / "data-evil"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"outside")
    return root, outside


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
        "cat.2.png",
    ]
    reports = []

    pixels, used, rejected = decode_files(root, order, 4, LIMIT, lambda *a: reports.append(a))

    assert used == ["cat.1.png", "dog.1.png", "cat.2.png"]
    assert [entry["path"] for entry in rejected] == [
        "dog.2.jpg",
        "cat.3.jpg",
        "dog.3.jpg",
    ]
    assert len(used) + len(rejected) == len(order)
    reasons = {entry["path"]: entry["reason"] for entry in rejected}
    assert "not an image" in reasons["dog.2.jpg"]
    assert "outside the data folder" in reasons["cat.3.jpg"]
    assert "empty file" in reasons["dog.3.jpg"]
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


def test_decode_files_fails_on_a_file_this_machine_cannot_read(tmp_path, save_image):
    save_image(tmp_path / "cat.1.png", np.zeros((4, 4, 3), dtype=np.uint8))

    with pytest.raises(FileUnreadable, match=r"cat\.2\.png.*ENOENT"):
        decode_files(tmp_path, ["cat.1.png", "cat.2.png"], 4, LIMIT)


def test_decode_files_reads_only_under_the_allowed_roots(tmp_path, save_image):
    save_image(tmp_path / "data" / "cat.1.png", np.zeros((4, 4, 3), dtype=np.uint8))

    _, used, _ = decode_files(
        tmp_path / "data", ["cat.1.png"], 4, LIMIT, allowed_roots=[str(tmp_path)]
    )
    assert used == ["cat.1.png"]
    with pytest.raises(PermissionError, match="outside the folders"):
        decode_files(tmp_path / "data", ["cat.1.png"], 4, LIMIT, allowed_roots=["/nowhere"])


def test_decode_files_rejects_files_over_the_size_limit(tmp_path, save_image):
    path = save_image(tmp_path / "cat.1.png", np.zeros((4, 4, 3), dtype=np.uint8))
    size = path.stat().st_size

    _, used, rejected = decode_files(tmp_path, ["cat.1.png"], 4, LIMIT, max_file_bytes=size - 1)

    assert used == []
    assert (
        "over the limit" in rejected[0]["reason"]
        and "CATDOG_MAX_FILE_BYTES" in rejected[0]["reason"]
    )
