"""Media on disk (content-addressed files, streaming with a limit, no path from user input)
and media metadata in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homeserver.errors import InvalidParam, TooLarge
from homeserver.media.store import MEDIA_ID, MediaFiles, check_media_id, new_media_id
from homeserver.storage.database import Database
from homeserver.storage.media import Content, MediaStore, ThumbnailInfo, ThumbnailKey


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


@pytest.fixture
def files(tmp_path: Path) -> MediaFiles:
    media = MediaFiles(tmp_path / "media")
    media.prepare()
    return media


async def test_receive_hashes_and_stores_once(files: MediaFiles) -> None:
    data = b"hello world" * 1000
    stored = await files.receive(chunks_of(data), len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    path = files.content_path(stored.sha256)
    assert path.read_bytes() == data
    assert path.relative_to(files.root).parts == (
        "content",
        stored.sha256[:2],
        stored.sha256[2:4],
        stored.sha256,
    )
    again = await files.receive(chunks_of(data, 7), len(data))
    assert again == stored
    assert files_under(files.root / "content") == [path]
    assert files_under(files.root / "tmp") == []


async def test_receive_stops_at_the_limit_and_cleans_up(files: MediaFiles) -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 1
            yield b"x" * 1000

    with pytest.raises(TooLarge):
        await files.receive(endless(), 10_500)
    assert consumed == 11  # refused as soon as the limit was passed
    assert files_under(files.root) == []


def test_prepare_removes_old_leftover_temporary_files(tmp_path: Path) -> None:
    media = MediaFiles(tmp_path / "media")
    media.prepare()
    old, fresh = media.root / "tmp" / "crashed-upload", media.root / "tmp" / "in-flight-upload"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    media.prepare()
    assert files_under(media.root) == [fresh]  # another process may still be writing that one


@pytest.mark.parametrize(
    "bad", ["", "..", "../etc/passwd", "a/b", "a\\b", "a.b", "%2e%2e", "a\x00b", "é", "a b", "x" * 256]
)
def test_media_ids_are_checked(bad: str) -> None:
    with pytest.raises(InvalidParam):
        check_media_id(bad)


def test_new_media_ids_are_valid_and_distinct() -> None:
    ids = {new_media_id() for _ in range(200)}
    assert len(ids) == 200 and all(MEDIA_ID.fullmatch(i) for i in ids)
    assert check_media_id("Abc-_09") == "Abc-_09"


@pytest.mark.parametrize("bad", ["../" + "a" * 61, "A" * 64, "a" * 63, "g" * 64, "a" * 64 + "/"])
def test_paths_come_only_from_a_sha256(files: MediaFiles, bad: str) -> None:
    with pytest.raises(ValueError):
        files.content_path(bad)
    with pytest.raises(ValueError):
        files.thumbnail_path(bad, 32, 32, "crop", False)
    with pytest.raises(ValueError):
        files.thumbnail_path("a" * 64, 32, 32, "../crop", False)


async def test_media_rows(database: Database) -> None:
    store = MediaStore(database)
    content = Content("b" * 64, 10, "image/png", "cat.png")
    await store.add("doneId", "@alice:x", content, 1000)
    info = await store.get("doneId")
    assert info is not None and not info.pending
    assert (info.user_id, info.sha256, info.size, info.content_type, info.upload_name) == (
        "@alice:x", "b" * 64, 10, "image/png", "cat.png"
    )  # fmt: skip
    assert await store.get("missing") is None

    await store.add_pending("p1", "@alice:x", 1000, 5000)
    await store.add_pending("p2", "@alice:x", 1000, 3000)
    await store.add_pending("p3", "@bob:x", 1000, 3000)
    assert await store.pending_of("@alice:x", 2000) == (2, 3000)
    assert await store.pending_of("@alice:x", 4000) == (1, 5000)  # p2 has expired
    assert await store.pending_of("@carol:x", 2000) == (0, None)

    assert not await store.fill_pending("p2", content, 4000)  # expired
    assert await store.fill_pending("p1", content, 4000)
    assert not await store.fill_pending("p1", content, 4000)  # has content already
    assert not await store.fill_pending("doneId", content, 4000)

    assert await store.delete_expired(4000) == 2  # p2 and p3; never uploaded media
    assert await store.get("p2") is None and await store.get("p3") is None
    assert await store.get("p1") is not None and await store.get("doneId") is not None


async def test_thumbnail_rows(database: Database) -> None:
    store = MediaStore(database)
    key = ThumbnailKey("c" * 64, 96, 96, "crop", False)
    assert await store.get_thumbnail(key) is None
    info = ThumbnailInfo(key, "image/png", 1234)
    await store.add_thumbnail(info, 1)
    await store.add_thumbnail(info, 2)  # made twice at once: the second is as good
    assert await store.get_thumbnail(key) == info
    assert await store.get_thumbnail(ThumbnailKey("c" * 64, 96, 96, "crop", True)) is None
