"""Thumbnailing with Pillow, called directly: sizes, methods, EXIF orientation, animation, and
hostile images (decompression bombs, corrupt and truncated files)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from homeserver.errors import TooLarge
from homeserver.media.thumbnails import CannotThumbnail, make_thumbnail, standard_size
from tests.clientapi.media_helpers import (
    animated_gif,
    current_peak_rss_kib,
    image_bytes,
    image_of,
    peak_rss_kib,
    png_bomb,
)

LIMIT = 32_000_000
MIB_KB = 1024


def write(tmp_path: Path, data: bytes, name: str = "image") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (8_000, 8_000)])
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    """900 and 64 megapixels in ~100 KiB: refused from the header. Decoding the first would
    take ~900 MiB; the process's peak memory grows by less than 32 MiB."""
    data = png_bomb(width, height)
    assert len(data) < 200_000
    assert struct.unpack(">II", data[16:24]) == (width, height)  # what the IHDR chunk says
    path = write(tmp_path, data)
    before = peak_rss_kib()
    if before is None:
        pytest.skip("no /proc/self/status here")
    with pytest.raises(TooLarge):
        make_thumbnail(path, 96, 96, "crop", False, LIMIT)
    assert current_peak_rss_kib() - before < 32 * MIB_KB


def test_pixel_limit_is_the_configured_one(tmp_path: Path) -> None:
    path = write(tmp_path, image_bytes((100, 100)))
    with pytest.raises(TooLarge):
        make_thumbnail(path, 32, 32, "crop", False, 9_999)
    assert image_of(make_thumbnail(path, 32, 32, "crop", False, 10_000).data).size == (32, 32)


@pytest.mark.parametrize(
    ("size", "asked", "method", "expected"),
    [
        ((1000, 800), (96, 96), "crop", (96, 96)),
        ((1000, 800), (320, 240), "scale", (300, 240)),
        ((1000, 800), (800, 600), "scale", (750, 600)),
        ((800, 1000), (640, 480), "scale", (384, 480)),
        ((1000, 800), (320, 240), "crop", (320, 240)),
        ((50, 40), (96, 96), "crop", (50, 40)),  # smaller than asked: the original itself
        ((300, 100), (320, 240), "scale", (300, 100)),
    ],
)
def test_sizes_and_methods(
    tmp_path: Path, size: tuple[int, int], asked: tuple[int, int], method: str, expected: tuple[int, int]
) -> None:
    path = write(tmp_path, image_bytes(size, "JPEG"))
    thumb = make_thumbnail(path, *asked, method, False, LIMIT)
    assert thumb.content_type == "image/jpeg"
    image = image_of(thumb.data)
    assert image.format == "JPEG"
    assert image.size == expected


def test_png_stays_png_and_small_originals_are_served_as_they_are(tmp_path: Path) -> None:
    big = write(tmp_path, image_bytes((500, 500)), "big")
    thumb = make_thumbnail(big, 96, 96, "crop", False, LIMIT)
    assert thumb.content_type == "image/png" and image_of(thumb.data).mode == "RGBA"
    small_bytes = image_bytes((20, 20))
    small = write(tmp_path, small_bytes, "small")
    assert make_thumbnail(small, 32, 32, "crop", False, LIMIT).data == small_bytes


def test_crop_never_upscales(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: not servable as is
    path = write(tmp_path, image_bytes((50, 40), "JPEG", exif=exif.tobytes()))
    assert image_of(make_thumbnail(path, 96, 96, "crop", False, LIMIT).data).size == (40, 40)


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    path = write(tmp_path, image_bytes((400, 200), "JPEG", exif=exif.tobytes()))
    thumb = make_thumbnail(path, 800, 600, "scale", False, LIMIT)
    assert image_of(thumb.data).size == (200, 400)


def test_animated_images(tmp_path: Path) -> None:
    path = write(tmp_path, animated_gif())
    still = make_thumbnail(path, 96, 96, "crop", False, LIMIT)
    assert still.content_type == "image/png"
    assert not getattr(image_of(still.data), "is_animated", False)
    moving = make_thumbnail(path, 96, 96, "crop", True, LIMIT)
    assert moving.content_type == "image/webp"
    with Image.open(io.BytesIO(moving.data)) as image:
        assert image.n_frames == 3 and image.size == (96, 96)
    # animated=true for a still image gives a still thumbnail.
    jpeg = write(tmp_path, image_bytes((300, 300), "JPEG"), "jpeg")
    assert make_thumbnail(jpeg, 96, 96, "crop", True, LIMIT).content_type == "image/jpeg"


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all",
        b"",
        image_bytes((300, 300))[:200],  # truncated PNG
        b"GIF89a" + b"\xff" * 40,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",  # SVG is never decoded
        image_bytes((64, 64), "BMP"),  # a format we do not open
    ],
)
def test_broken_or_unsupported_images(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, data)
    with pytest.raises(CannotThumbnail) as caught:
        make_thumbnail(path, 96, 96, "crop", False, LIMIT)
    assert caught.value.status == 400 and caught.value.errcode == "M_UNKNOWN"


def test_standard_sizes() -> None:
    assert standard_size(1, 1) == (32, 32)
    assert standard_size(32, 32) == (32, 32)
    assert standard_size(50, 50) == (96, 96)
    assert standard_size(96, 97) == (320, 240)
    assert standard_size(600, 100) == (640, 480)
    assert standard_size(10_000, 10_000) == (800, 600)
