"""Media bytes on disk, content-addressed: DATA_DIR/media/content/ab/cd/<sha256>.

Identical uploads are stored once. No path is ever built from a client's string: content and
thumbnail paths come from a sha256 we computed (checked to be 64 hex digits) and from numbers,
and media IDs are only ever checked against MEDIA_ID before they reach the database.

An upload streams into a temporary file in media/tmp while it is hashed; it is refused as
soon as it passes the size limit, and the temporary file is removed whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from homeserver.errors import InvalidParam, TooLarge

MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MEDIA_ID_LENGTH = 24
WRITE_BATCH = 1024 * 1024  # bytes gathered before one write in the thread pool
STALE_TEMP_S = 24 * 3600.0
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_media_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(MEDIA_ID_LENGTH))


def check_media_id(media_id: str) -> str:
    """The media ID if it is made of [A-Za-z0-9_-] only (spec: "Security considerations")."""
    if not MEDIA_ID.fullmatch(media_id):
        raise InvalidParam("Invalid media ID")
    return media_id


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int


class MediaFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def prepare(self) -> None:
        """Create the directories and drop temporary files a crash left behind (old ones only:
        another process sharing the directory may be receiving an upload right now)."""
        for sub in ("content", "thumbnails", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TEMP_S
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def content_path(self, sha256: str) -> Path:
        return self.root / "content" / _fanout(sha256)

    def thumbnail_path(self, sha256: str, width: int, height: int, method: str, animated: bool) -> Path:
        if method not in ("crop", "scale"):
            raise ValueError(f"bad thumbnail method {method!r}")
        name = f"{int(width)}x{int(height)}-{method}{'-animated' if animated else ''}"
        return self.root / "thumbnails" / _fanout(sha256) / name

    async def receive(self, chunks: AsyncIterator[bytes], limit: int) -> StoredFile:
        """Stream an upload to disk while hashing it; TooLarge past `limit` bytes."""
        digest, size = hashlib.sha256(), 0
        tmp = self.temp_path()
        loop = asyncio.get_running_loop()
        file = await loop.run_in_executor(None, tmp.open, "wb")
        try:
            buffer = bytearray()
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"Cannot upload files larger than {limit} bytes")
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= WRITE_BATCH:
                    await loop.run_in_executor(None, file.write, bytes(buffer))
                    buffer.clear()
            await loop.run_in_executor(None, _finish, file, bytes(buffer))
            sha256 = digest.hexdigest()
            await loop.run_in_executor(None, self._keep, tmp, self.content_path(sha256))
            return StoredFile(sha256, size)
        finally:
            file.close()
            tmp.unlink(missing_ok=True)

    async def store_bytes(self, data: bytes) -> StoredFile:
        """Keep bytes already in memory (a URL preview's image)."""

        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.receive(one(), len(data))

    def temp_path(self) -> Path:
        return self._tmp / secrets.token_hex(16)

    @staticmethod
    def _keep(tmp: Path, final: Path) -> None:
        """Move a finished file into place; if the same content is there already, keep that."""
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)

    def write_atomically(self, final: Path, data: bytes) -> None:
        """Write a file (a thumbnail) so that readers never see half of it. Blocking."""
        tmp = self.temp_path()
        try:
            tmp.write_bytes(data)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)


def _finish(file: BinaryIO, rest: bytes) -> None:
    file.write(rest)
    file.flush()
    os.fsync(file.fileno())


def _fanout(sha256: str) -> Path:
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    return Path(sha256[:2], sha256[2:4], sha256)
