"""Helpers for the media tests: images made with Pillow, uploads, and looking at the store."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE
from homeserver.storage.tables import media
from tests.helpers import HomeserverUnderTest, MatrixClient

UPLOAD = "/_matrix/media/v3/upload"
MEDIA_V1 = "/_matrix/client/v1/media"


def image_bytes(size: tuple[int, int], fmt: str = "PNG", color: str = "red", **save: Any) -> bytes:
    out = io.BytesIO()
    mode = "RGB" if fmt == "JPEG" else "RGBA"
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def upload(
    client: MatrixClient,
    data: bytes,
    content_type: str | None = "application/octet-stream",
    filename: str | None = None,
    expect: int = 200,
) -> Any:
    """POST /upload; the mxc:// URI on success, else the error body."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    params = {} if filename is None else {"filename": filename}
    result = await client.post(UPLOAD, data=data, headers=headers, params=params, expect=expect)
    return result["content_uri"] if expect == 200 else result


def split_mxc(mxc: str) -> tuple[str, str]:
    assert mxc.startswith("mxc://"), mxc
    server_name, media_id = mxc[len("mxc://") :].split("/")
    return server_name, media_id


def download_path(mxc: str, filename: str | None = None) -> str:
    server_name, media_id = split_mxc(mxc)
    tail = f"/{filename}" if filename else ""
    return f"{MEDIA_V1}/download/{server_name}/{media_id}{tail}"


def thumbnail_path(mxc: str) -> str:
    server_name, media_id = split_mxc(mxc)
    return f"{MEDIA_V1}/thumbnail/{server_name}/{media_id}"


async def media_rows(hs: HomeserverUnderTest) -> int:
    return int(await hs.app[DATABASE].fetch_value(select(func.count()).select_from(media)))


def stored_files(hs: HomeserverUnderTest, sub: str = "content") -> list[Path]:
    root = hs.config.data_path / "media" / sub
    return sorted(p for p in root.rglob("*") if p.is_file())


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height black pixels: a few hundred KiB on disk, and
    width * height bytes of memory for a decoder that trusts it (Pillow keeps 1 byte/pixel)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the packed pixels
    deflate = zlib.compressobj(9)
    data = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def peak_rss_kib() -> int | None:
    """This process's peak resident size (VmHWM), after resetting it where Linux lets us."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) if match else None


def current_peak_rss_kib() -> int:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    assert match is not None
    return int(match.group(1))


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (200, 200), (i * 80, 0, 255 - i * 80)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()
