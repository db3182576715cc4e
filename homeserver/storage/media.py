"""Media metadata (spec: "Content repository"): who uploaded what, under which media ID, with
which content type and file name, and the hash that names its bytes on disk; and the
thumbnails already made from each content hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from homeserver.storage.database import Database
from homeserver.storage.tables import media, media_thumbnails


@dataclass(frozen=True)
class MediaInfo:
    media_id: str
    user_id: str
    created_ts: int
    content_type: str | None
    upload_name: str | None
    sha256: str | None  # None while an asynchronous upload is pending
    size: int | None
    uploaded_ts: int | None
    expires_ts: int | None

    @property
    def pending(self) -> bool:
        return self.sha256 is None


@dataclass(frozen=True)
class Content:
    """What an upload stored: the hash naming the bytes, their size and how to serve them."""

    sha256: str
    size: int
    content_type: str
    upload_name: str | None


@dataclass(frozen=True)
class ThumbnailKey:
    sha256: str
    width: int
    height: int
    method: str
    animated: bool


@dataclass(frozen=True)
class ThumbnailInfo:
    key: ThumbnailKey
    content_type: str
    size: int


def _info(row: Any) -> MediaInfo:
    return MediaInfo(
        row.media_id,
        row.user_id,
        row.created_ts,
        row.content_type,
        row.upload_name,
        row.sha256,
        row.size,
        row.uploaded_ts,
        row.expires_ts,
    )


class MediaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, media_id: str, user_id: str, content: Content, now_ms: int) -> None:
        """Record a finished upload (POST /upload)."""
        await self._db.execute(
            insert(media).values(
                media_id=media_id,
                user_id=user_id,
                created_ts=now_ms,
                content_type=content.content_type,
                upload_name=content.upload_name,
                sha256=content.sha256,
                size=content.size,
                uploaded_ts=now_ms,
                expires_ts=None,
            )
        )

    async def add_pending(self, media_id: str, user_id: str, now_ms: int, expires_ts: int) -> None:
        """Record a media ID whose content is still to come (POST /create)."""
        await self._db.execute(
            insert(media).values(media_id=media_id, user_id=user_id, created_ts=now_ms, expires_ts=expires_ts)
        )

    async def fill_pending(self, media_id: str, content: Content, now_ms: int) -> bool:
        """Give a pending, unexpired media ID its content; False if it has some already (or
        expired meanwhile): the update is conditional, so two racing uploads cannot both win."""
        changed = await self._db.execute(
            update(media)
            .where(and_(media.c.media_id == media_id, media.c.sha256.is_(None), media.c.expires_ts > now_ms))
            .values(
                content_type=content.content_type,
                upload_name=content.upload_name,
                sha256=content.sha256,
                size=content.size,
                uploaded_ts=now_ms,
                expires_ts=None,
            )
        )
        return changed == 1

    async def get(self, media_id: str) -> MediaInfo | None:
        row = await self._db.fetch_one(select(media).where(media.c.media_id == media_id))
        return _info(row) if row else None

    async def pending_of(self, user_id: str, now_ms: int) -> tuple[int, int | None]:
        """How many unexpired pending uploads the user has, and when the first of them expires."""
        row = await self._db.fetch_one(
            select(func.count().label("n"), func.min(media.c.expires_ts).label("first")).where(
                and_(media.c.user_id == user_id, media.c.expires_ts > now_ms)
            )
        )
        if row is None:
            return 0, None
        return int(row.n), row.first

    async def delete_expired(self, now_ms: int) -> int:
        """Drop pending media IDs whose time ran out; returns how many."""
        return await self._db.execute(
            delete(media).where(and_(media.c.expires_ts <= now_ms, media.c.sha256.is_(None)))
        )

    async def get_thumbnail(self, key: ThumbnailKey) -> ThumbnailInfo | None:
        t = media_thumbnails.c
        row = await self._db.fetch_one(
            select(t.content_type, t.size).where(
                and_(
                    t.sha256 == key.sha256,
                    t.width == key.width,
                    t.height == key.height,
                    t.method == key.method,
                    t.animated == key.animated,
                )
            )
        )
        return ThumbnailInfo(key, row.content_type, row.size) if row else None

    async def add_thumbnail(self, info: ThumbnailInfo, now_ms: int) -> None:
        """Record a thumbnail made; one made at the same time by another request is as good."""
        key = info.key
        try:
            await self._db.execute(
                insert(media_thumbnails).values(
                    sha256=key.sha256,
                    width=key.width,
                    height=key.height,
                    method=key.method,
                    animated=key.animated,
                    content_type=info.content_type,
                    size=info.size,
                    created_ts=now_ms,
                )
            )
        except IntegrityError:
            pass
