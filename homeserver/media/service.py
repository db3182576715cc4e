"""The media repository's core: uploads (direct and asynchronous), downloads, thumbnails and
URL previews, over the metadata store, the files on disk and the thumbnailer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeserver.clock import now_ms
from homeserver.config import Config, Media
from homeserver.errors import Forbidden, InvalidParam, LimitExceeded, MatrixError, NotFound, TooLarge
from homeserver.ids import is_valid_server_name
from homeserver.media.preview import UrlPreviewer
from homeserver.media.store import MediaFiles, check_media_id, new_media_id
from homeserver.media.thumbnails import THUMBNAILABLE_TYPES, CannotThumbnail, Thumbnailer, standard_size
from homeserver.ratelimit import RateLimiter
from homeserver.storage.database import Database
from homeserver.storage.media import Content, MediaInfo, MediaStore, ThumbnailInfo, ThumbnailKey

DEFAULT_WAIT_MS = 20_000
MAX_WAIT_MS = 60_000
MAX_FILENAME_CHARS = 255
CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[\x20-\x7e]*)?")
FALLBACK_TYPE = "application/octet-stream"
THUMBNAIL_NAMES = {
    "image/jpeg": "thumbnail.jpg",
    "image/png": "thumbnail.png",
    "image/webp": "thumbnail.webp",
    "image/gif": "thumbnail.gif",
    "image/apng": "thumbnail.png",
}


class NotYetUploaded(MatrixError):
    status, errcode = 504, "M_NOT_YET_UPLOADED"


class CannotOverwriteMedia(MatrixError):
    status, errcode = 409, "M_CANNOT_OVERWRITE_MEDIA"


@dataclass(frozen=True)
class Upload:
    """An upload as the client sent it: the body's chunks and what the headers said."""

    chunks: AsyncIterator[bytes]
    declared_length: int | None
    content_type: str | None
    filename: str | None


@dataclass(frozen=True)
class Served:
    """A file to send: where it is and what to call it."""

    path: Path
    content_type: str
    filename: str | None


def content_type_of(raw: str | None) -> str:
    """The client's content type if it is one, else application/octet-stream (the spec's default)."""
    if raw is None or len(raw) > 255 or not CONTENT_TYPE.fullmatch(raw.strip()):
        return FALLBACK_TYPE
    return raw.strip()


def filename_of(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if "\x00" in raw or len(raw) > MAX_FILENAME_CHARS:
        raise InvalidParam(f"'filename' must be at most {MAX_FILENAME_CHARS} characters, without NUL")
    return raw


class MediaService:
    def __init__(
        self,
        store: MediaStore,
        files: MediaFiles,
        thumbnailer: Thumbnailer,
        limiter: RateLimiter,
        config: Media,
        server_name: str,
    ) -> None:
        self._store, self._files, self._thumbnailer = store, files, thumbnailer
        self._limiter, self._config, self._server_name = limiter, config, server_name
        self._waiters: dict[str, tuple[asyncio.Event, int]] = {}  # media ID -> (event, waiting)
        self._making: dict[ThumbnailKey, asyncio.Task[ThumbnailInfo]] = {}
        self._previewer = UrlPreviewer(config.url_preview, config.max_upload_size, self._keep_image)

    @property
    def max_upload_size(self) -> int:
        return self._config.max_upload_size

    def mxc(self, media_id: str) -> str:
        return f"mxc://{self._server_name}/{media_id}"

    async def upload(self, user_id: str, upload: Upload) -> str:
        """POST /upload: store the content under a new media ID; returns its mxc:// URI."""
        self._limiter.check("media_upload", user_id)
        content = await self._receive(upload)
        media_id = new_media_id()
        await self._store.add(media_id, user_id, content, now_ms())
        return self.mxc(media_id)

    async def create(self, user_id: str) -> tuple[str, int]:
        """POST /create: a media ID whose content comes later; (mxc:// URI, expiry time)."""
        self._limiter.check("media_upload", user_id)
        now = now_ms()
        pending, first_expiry = await self._store.pending_of(user_id, now)
        if pending >= self._config.max_pending_uploads:
            raise LimitExceeded(retry_after_ms=max(1, (first_expiry or now) - now))
        media_id, expires = new_media_id(), now + self._config.unused_expiry_ms
        await self._store.add_pending(media_id, user_id, now, expires)
        return self.mxc(media_id), expires

    async def upload_to(self, user_id: str, server_name: str, media_id: str, upload: Upload) -> None:
        """PUT /upload/{serverName}/{mediaId}: the content of a media ID made by /create."""
        media_id = check_media_id(media_id)
        if server_name != self._server_name:
            raise NotFound("Unknown media ID")
        info = await self._store.get(media_id)
        if info is None or (info.pending and (info.expires_ts or 0) <= now_ms()):
            raise NotFound("Unknown media ID")
        if info.user_id != user_id:
            raise Forbidden("This media ID was created by another user")
        if not info.pending:
            raise CannotOverwriteMedia("Media already uploaded")
        content = await self._receive(upload)
        if not await self._store.fill_pending(media_id, content, now_ms()):
            raise CannotOverwriteMedia("Media already uploaded")
        waiting = self._waiters.pop(media_id, None)
        if waiting is not None:
            waiting[0].set()

    async def _receive(self, upload: Upload) -> Content:
        limit = self._config.max_upload_size
        if upload.declared_length is not None and upload.declared_length > limit:
            raise TooLarge(f"Cannot upload files larger than {limit} bytes")
        filename = filename_of(upload.filename)
        stored = await self._files.receive(upload.chunks, limit)
        return Content(stored.sha256, stored.size, content_type_of(upload.content_type), filename)

    async def download(
        self, server_name: str, media_id: str, timeout_ms: int | None, *, legacy: bool
    ) -> Served:
        info = await self._local_content(server_name, media_id, timeout_ms, legacy)
        assert info.sha256 is not None
        return Served(
            self._files.content_path(info.sha256), info.content_type or FALLBACK_TYPE, info.upload_name
        )

    async def thumbnail(
        self,
        server_name: str,
        media_id: str,
        size: tuple[int, int],
        method: str,
        animated: bool,
        timeout_ms: int | None,
        *,
        legacy: bool,
    ) -> Served:
        info = await self._local_content(server_name, media_id, timeout_ms, legacy)
        assert info.sha256 is not None
        if (info.content_type or "").split(";")[0].strip().lower() not in THUMBNAILABLE_TYPES:
            raise CannotThumbnail("Cannot generate thumbnails for the requested content")
        width, height = standard_size(*size)
        key = ThumbnailKey(info.sha256, width, height, method, animated)
        path = self._files.thumbnail_path(info.sha256, width, height, method, animated)
        made = await self._store.get_thumbnail(key)
        if made is None or not await asyncio.to_thread(path.exists):
            made = await self._make_once(key, path)
        return Served(path, made.content_type, THUMBNAIL_NAMES.get(made.content_type, "thumbnail"))

    async def _make_once(self, key: ThumbnailKey, path: Path) -> ThumbnailInfo:
        """Make a thumbnail; concurrent requests for the same one share the work."""
        task = self._making.get(key)
        if task is None:
            task = asyncio.create_task(self._make(key, path))
            self._making[key] = task
            task.add_done_callback(lambda done: self._made(key, done))
        return await asyncio.shield(task)  # a client that goes away does not stop the others'

    def _made(self, key: ThumbnailKey, task: asyncio.Task[ThumbnailInfo]) -> None:
        self._making.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone, that is no error

    async def _make(self, key: ThumbnailKey, path: Path) -> ThumbnailInfo:
        source = self._files.content_path(key.sha256)
        thumb = await self._thumbnailer.make(source, key.width, key.height, key.method, key.animated)
        await asyncio.to_thread(self._files.write_atomically, path, thumb.data)
        info = ThumbnailInfo(key, thumb.content_type, len(thumb.data))
        await self._store.add_thumbnail(info, now_ms())
        return info

    async def _local_content(
        self, server_name: str, media_id: str, timeout_ms: int | None, legacy: bool
    ) -> MediaInfo:
        """The media's row once it has content (waiting up to `timeout_ms` for a pending one)."""
        if not is_valid_server_name(server_name):
            raise InvalidParam("Invalid server name")
        media_id = check_media_id(media_id)
        if server_name != self._server_name:
            await remote_media(server_name, media_id)
        info = await self._store.get(media_id)
        if info is None or (legacy and self._frozen(info)):
            raise NotFound("Media not found")
        if info.pending:
            info = await self._wait_for(info, timeout_ms)
        return info

    def _frozen(self, info: MediaInfo) -> bool:
        """Whether the legacy unauthenticated endpoints must not serve this media (spec 1.11:
        media uploaded after the freeze is served by the authenticated endpoints only)."""
        return self._config.legacy_frozen and info.created_ts >= self._config.legacy_frozen_after_ms

    async def _wait_for(self, info: MediaInfo, timeout_ms: int | None) -> MediaInfo:
        if (info.expires_ts or 0) <= now_ms():
            raise NotFound("Media not found")
        wait_ms = min(MAX_WAIT_MS, DEFAULT_WAIT_MS if timeout_ms is None else timeout_ms)
        event, count = self._waiters.get(info.media_id, (asyncio.Event(), 0))
        self._waiters[info.media_id] = (event, count + 1)
        try:
            await asyncio.wait_for(event.wait(), wait_ms / 1000)
        except TimeoutError:
            pass
        finally:
            self._forget_waiter(info.media_id, event)
        # Another process may have taken the upload: the database has the last word.
        latest = await self._store.get(info.media_id)
        if latest is None:
            raise NotFound("Media not found")
        if latest.pending:
            raise NotYetUploaded("Content has not yet been uploaded")
        return latest

    def _forget_waiter(self, media_id: str, event: asyncio.Event) -> None:
        current = self._waiters.get(media_id)
        if current is None or current[0] is not event:
            return
        if current[1] <= 1:
            del self._waiters[media_id]
        else:
            self._waiters[media_id] = (event, current[1] - 1)

    async def preview(self, user_id: str, url: str) -> dict[str, Any]:
        self._limiter.check("media_upload", user_id)
        return await self._previewer.preview(url, user_id)

    async def _keep_image(self, data: bytes, content_type: str, user_id: str) -> str:
        """Keep a previewed page's image as media of the user who asked for the preview."""
        stored = await self._files.store_bytes(data)
        media_id = new_media_id()
        content = Content(stored.sha256, stored.size, content_type_of(content_type), None)
        await self._store.add(media_id, user_id, content, now_ms())
        return self.mxc(media_id)

    async def sweep(self) -> None:
        """Drop pending media IDs that were never given content in time."""
        await self._store.delete_expired(now_ms())

    def close(self) -> None:
        self._thumbnailer.close()


async def remote_media(server_name: str, media_id: str) -> MediaInfo:
    """Media of another server. Fetching it over federation (GET
    /_matrix/federation/v1/media/download/{mediaId}, then caching it like local media) belongs
    to the federation work (issue: federation); until then remote media is not found."""
    raise NotFound(f"Remote media of {server_name} is not available on this server")


def make_media_service(config: Config, db: Database, limiter: RateLimiter) -> MediaService:
    """The media repository over DATA_DIR/media (created, leftover temporary files removed)."""
    files = MediaFiles(config.data_path / "media")
    files.prepare()
    thumbnailer = Thumbnailer(config.media.max_thumbnail_pixels, config.media.thumbnail_timeout_s)
    return MediaService(MediaStore(db), files, thumbnailer, limiter, config.media, config.server_name)
