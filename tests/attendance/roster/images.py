"""Bad and awkward image files made in the test (the good photos are real ones from ../shared/data)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def reencode(data: bytes, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, fmt, **kw)
    return out.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG that *declares* width x height but carries almost no data: a decompression bomb has to
    be refused from its header, before any pixel is decoded."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def faceless_png(size: int = 400) -> bytes:
    """A smooth gradient: a valid image with nothing face-like in it."""
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()


def rotated_with_exif(data: bytes) -> tuple[bytes, bytes]:
    """(rotated pixels + EXIF orientation 6 = 'rotate 90 CW to display', same pixels without EXIF)."""
    img = Image.open(io.BytesIO(data)).convert("RGB").rotate(90, expand=True)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6
    with_tag, without = io.BytesIO(), io.BytesIO()
    img.save(with_tag, "JPEG", quality=95, exif=exif.tobytes())
    img.save(without, "JPEG", quality=95)
    return with_tag.getvalue(), without.getvalue()
