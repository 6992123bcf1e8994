"""What a file holds, from its first bytes: JPEG and PNG headers, read without decoding.

Workers decode JPEG and PNG only, recognised by content, never by name and
never by Pillow's guess: asked to open any file, Pillow tries some forty
formats, and hands an EPS file (PostScript) to Ghostscript. Other formats
are named in the rejection, so that the owner knows what to convert.

The JPEG header (markers up to the first scan) gives the size, the colour
components, whether decoding needs whole-image coefficient buffers
(progressive or multi-scan files) and the EXIF orientation, in a few
microseconds and with no allocation the file's size did not already pay for.
"""

import struct
from dataclasses import dataclass

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"%!PS", "EPS"),  # or plain PostScript: either way, Ghostscript
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
    (b"8BPS", "Photoshop (PSD)"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"qoif", "QOI"),
)
# SOF markers: baseline, extended, progressive, lossless; Huffman or arithmetic.
_FRAME_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7))
_FRAME_MARKERS |= frozenset((0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_PROGRESSIVE_MARKERS = frozenset((0xC2, 0xC6, 0xCA, 0xCE))
_ORIENTATION_TAG = 0x0112


class UnsupportedFormat(ValueError):
    """Not JPEG or PNG content; the message says what it is, if known."""


@dataclass(frozen=True)
class JpegHeader:
    width: int
    height: int
    frame_marker: int  # 0xC0 baseline, 0xC2 progressive, ...
    precision: int  # bits per sample
    sampling: tuple  # ((horizontal, vertical), ...) per component
    multi_scan: bool  # decoding holds every DCT coefficient of the image at once
    orientation: int  # EXIF orientation, 1 (as stored) to 8

    def coefficient_bytes(self) -> int:
        """The whole-image coefficient buffers libjpeg allocates for multi-scan files."""
        if not self.multi_scan:
            return 0
        most_h = max(h for h, _ in self.sampling)
        most_v = max(v for _, v in self.sampling)
        total = 0
        for h, v in self.sampling:
            blocks_across = -(-self.width * h // (most_h * 8))
            blocks_down = -(-self.height * v // (most_v * 8))
            total += blocks_across * blocks_down * 64 * 2  # 64 int16 coefficients a block
        return total


def image_format(data) -> str:
    """``"JPEG"`` or ``"PNG"`` from the first bytes; else UnsupportedFormat with the reason."""
    head = bytes(data[:16])
    if head.startswith(JPEG_MAGIC):
        return "JPEG"
    if head.startswith(PNG_MAGIC):
        return "PNG"
    found = next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found = "WebP"
    elif head[4:8] == b"ftyp":
        found = "HEIF/AVIF"
    if found is not None:
        raise UnsupportedFormat(f"not a JPEG or PNG file (found {found}): convert it first")
    if _looks_like_text(bytes(data[:512])):
        raise UnsupportedFormat("not an image: the file holds text, not JPEG or PNG data")
    raise UnsupportedFormat(
        f"not an image: neither JPEG nor PNG content (it starts with {head[:8].hex(' ')})"
    )


def png_size(data) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must start with."""
    if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
        raise ValueError("a PNG without its IHDR header (truncated or corrupt)")
    return struct.unpack_from(">II", data, 16)


def read_jpeg_header(data: bytes) -> JpegHeader:
    """The frame header, the first scan's and the EXIF orientation; ValueError if malformed."""
    try:
        return _read_jpeg_header(data)
    except (IndexError, struct.error):
        raise ValueError("a JPEG header cut short or corrupt") from None


def _read_jpeg_header(data: bytes) -> JpegHeader:
    position, length, frame, orientation = 2, len(data), None, 1
    while True:
        # Segments follow each other directly; anything else (fill bytes, junk) is
        # skipped to the next marker, as libjpeg does.
        if data[position] != 0xFF or data[position + 1] in (0x00, 0xFF):
            position = _next_marker(data, position, length)
        marker = data[position + 1]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a segment
            position += 2
            continue
        if marker == 0xD8 or marker == 0xD9:
            raise ValueError("a JPEG that ends before its first scan (truncated or corrupt)")
        size = data[position + 2] << 8 | data[position + 3]
        start, position = position + 4, position + 2 + size
        if size < 2 or position > length:
            raise ValueError("a JPEG segment runs past the end of the file (truncated)")
        if marker == 0xDA:
            if frame is None:
                raise ValueError("a JPEG scan before its frame header (corrupt)")
            width, height, precision, sampling, frame_marker = frame
            # libjpeg buffers the whole image's coefficients when a scan holds fewer
            # components than the frame, or the file is progressive.
            multi_scan = frame_marker in _PROGRESSIVE_MARKERS or data[start] < len(sampling)
            return JpegHeader(
                width, height, frame_marker, precision, sampling, multi_scan, orientation
            )
        if marker in _FRAME_MARKERS:
            if frame is None:
                frame = _frame(data, start, size, marker)
        elif marker == 0xE1 and orientation == 1 and data[start : start + 6] == b"Exif\0\0":
            orientation = _exif_orientation(data, start + 6, position)


def _frame(data, start, size, marker):
    if size < 8:
        raise ValueError("a JPEG frame header too short (corrupt)")
    precision, height, width, count = struct.unpack_from(">BHHB", data, start)
    if size < 8 + 3 * count or count == 0:
        raise ValueError("a JPEG frame header too short for its components (corrupt)")
    if width == 0 or height == 0:
        raise ValueError(f"a JPEG of {width}x{height} pixels (a DNL height is not supported)")
    sampling = []
    for index in range(count):
        factors = data[start + 7 + 3 * index]
        sampling.append((max(1, factors >> 4), max(1, factors & 15)))
    return width, height, precision, tuple(sampling), marker


def _next_marker(data, position, length) -> int:
    """Where the next marker (0xFF, then not 0xFF nor 0x00) starts; libjpeg skips junk too."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 3 >= length:
            raise ValueError("a JPEG that ends before its first scan (truncated or corrupt)")
        following = data[position + 1]
        if following not in (0xFF, 0x00):
            return position
        position += 1


def _exif_orientation(data, start: int, end: int) -> int:
    """IFD0's orientation tag, 1 if absent or unreadable (as Pillow, which ignores bad EXIF)."""
    tiff = bytes(data[start:end])
    try:
        order = {b"II*\x00": "<", b"MM\x00*": ">"}[tiff[:4]]
        (offset,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        for entry in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", tiff, entry)
            if tag == _ORIENTATION_TAG and kind == 3:  # SHORT
                (value,) = struct.unpack_from(order + "H", tiff, entry + 8)
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error):
        pass
    return 1


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(character.isprintable() or character in "\t\r\n" for character in text)
