"""Thumbnails with Pillow (spec: "Thumbnails"): "scale" keeps the aspect ratio and fits the
requested box, "crop" fills the box and cuts what sticks out; never upscaled.

Decoding hostile images is the danger here, so:
- only JPEG, PNG, GIF and WebP decoders are used (`formats=`), chosen from the bytes;
- the pixel count is read from the header and checked against a limit BEFORE anything is
  decoded (a decompression bomb is refused at the cost of reading its header);
- the work runs in a small thread pool of its own, bounded in concurrency, and the caller
  stops waiting after a timeout;
- animated images give their first frame unless an animated thumbnail is asked for, and then
  at most MAX_FRAMES frames are decoded."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from homeserver.errors import MatrixError, TooLarge, Unknown

FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
THUMBNAILABLE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/apng"})
# (width, height) of the thumbnails made, smallest first (spec: "Thumbnails").
SIZES = ((32, 32), (96, 96), (320, 240), (640, 480), (800, 600))
MAX_FRAMES = 100
ORIGINAL_MAX_BYTES = 2 * 1024 * 1024  # a small original is served as its own thumbnail up to this
JPEG_QUALITY = 80
WORKERS = 2


class CannotThumbnail(Unknown):
    """400 M_UNKNOWN, as the spec's example for content that cannot be thumbnailed."""


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str


def standard_size(width: int, height: int) -> tuple[int, int]:
    """The smallest standard size at least as big as asked for, else the largest."""
    for w, h in SIZES:
        if w >= width and h >= height:
            return w, h
    return SIZES[-1]


class Thumbnailer:
    """Makes thumbnails in a thread pool of its own; `close()` when the app stops."""

    def __init__(self, max_pixels: int, timeout_s: float) -> None:
        self._max_pixels = max_pixels
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="thumbnail")

    async def make(self, path: Path, width: int, height: int, method: str, animated: bool) -> Thumbnail:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self._pool, make_thumbnail, path, width, height, method, animated, self._max_pixels
        )
        try:
            return await asyncio.wait_for(job, self._timeout_s)
        except TimeoutError:
            raise CannotThumbnail("Thumbnailing took too long") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_thumbnail(
    path: Path, width: int, height: int, method: str, animated: bool, max_pixels: int
) -> Thumbnail:
    """Blocking: the thumbnail of the image at `path`, or CannotThumbnail / TooLarge."""
    try:
        with open_image(path, max_pixels) as image:
            return _thumbnail(path, image, width, height, method, animated, max_pixels)
    except MatrixError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        # A truncated or corrupt image surfaces as any of these from the decoders.
        raise CannotThumbnail(f"Cannot thumbnail the requested content ({type(e).__name__})") from None


def open_image(path: Path, max_pixels: int) -> Image.Image:
    """Open an image reading its header only; TooLarge past `max_pixels`, before decoding."""
    try:
        image = Image.open(path, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # warning: where it is an error
        raise TooLarge("Image is too large to thumbnail") from None
    except UnidentifiedImageError:
        raise CannotThumbnail("Cannot generate thumbnails for the requested content") from None
    if image.width < 1 or image.height < 1 or image.width * image.height > max_pixels:
        image.close()
        raise TooLarge("Image is too large to thumbnail")
    return image


def _thumbnail(
    path: Path, image: Image.Image, width: int, height: int, method: str, animated: bool, max_pixels: int
) -> Thumbnail:
    is_animated = bool(getattr(image, "is_animated", False))
    original = _as_original(path, image, width, height, animated, is_animated)
    if original is not None:
        return original
    if animated and is_animated:
        return _animated(image, width, height, method, max_pixels)
    if image.format == "JPEG":
        image.draft("RGB", (max(width, height), max(width, height)))  # decode at a reduced scale
    frame = ImageOps.exif_transpose(image)
    frame = _resize(frame, width, height, method)
    if image.format == "JPEG":
        return Thumbnail(_encode(frame.convert("RGB") if frame.mode != "L" else frame, "JPEG"), "image/jpeg")
    if frame.mode not in ("RGB", "RGBA", "L", "LA"):
        frame = frame.convert("RGBA")
    return Thumbnail(_encode(frame, "PNG"), "image/png")


def _as_original(
    path: Path, image: Image.Image, width: int, height: int, animated: bool, is_animated: bool
) -> Thumbnail | None:
    """The original bytes, when the image is no bigger than asked and may be served as is."""
    if image.width > width or image.height > height or (is_animated and not animated):
        return None
    if _orientation(image) not in (0, 1) or path.stat().st_size > ORIGINAL_MAX_BYTES:
        return None
    content_type = Image.MIME.get(image.format or "")
    if content_type not in THUMBNAILABLE_TYPES:
        return None
    return Thumbnail(path.read_bytes(), content_type)


def _orientation(image: Image.Image) -> int:
    return int(image.getexif().get(0x0112, 1))


def _resize(image: Image.Image, width: int, height: int, method: str) -> Image.Image:
    if method == "crop":
        # Fill a box of the asked aspect ratio: the asked size, or the largest that fits.
        shrink = min(image.width / width, image.height / height, 1.0)
        box = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        return ImageOps.fit(image, box, Image.Resampling.LANCZOS)
    if image.width <= width and image.height <= height:
        return image.copy()
    if width * image.height < height * image.width:
        size = (width, max(1, width * image.height // image.width))
    else:
        size = (max(1, height * image.width // image.height), height)
    return image.resize(size, Image.Resampling.LANCZOS)


def _animated(image: Image.Image, width: int, height: int, method: str, max_pixels: int) -> Thumbnail:
    """An animated WebP of at most MAX_FRAMES frames (and no more decoded pixels than four
    times the still-image limit)."""
    budget = min(MAX_FRAMES, max(1, 4 * max_pixels // (image.width * image.height)))
    frames, durations = [], []
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index >= budget:
            break
        frames.append(_resize(frame.convert("RGBA"), width, height, method))
        durations.append(int(frame.info.get("duration", 100)) or 100)
    out = io.BytesIO()
    frames[0].save(
        out, "WEBP", save_all=True, append_images=frames[1:], duration=durations, loop=0, quality=JPEG_QUALITY
    )
    return Thumbnail(out.getvalue(), "image/webp")


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        image.save(out, "PNG", optimize=False)
    return out.getvalue()
