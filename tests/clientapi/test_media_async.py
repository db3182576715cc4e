"""Asynchronous uploads: POST /_matrix/media/v1/create, then PUT /_matrix/media/v3/upload/..."""

from __future__ import annotations

import asyncio
import os

from homeserver.appkeys import DATABASE, MEDIA
from homeserver.clock import now_ms
from homeserver.config import Media
from homeserver.storage.database import Database
from homeserver.storage.media import Content, MediaStore
from tests.clientapi.conftest import MakeServer
from tests.clientapi.media_helpers import download_path, media_rows, split_mxc, stored_files
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

CREATE = "/_matrix/media/v1/create"


def put_path(mxc: str) -> str:
    server_name, media_id = split_mxc(mxc)
    return f"/_matrix/media/v3/upload/{server_name}/{media_id}"


async def put(client: MatrixClient, mxc: str, data: bytes, expect: int = 200, **params: str) -> object:
    return await client.put(
        put_path(mxc), data=data, headers={"Content-Type": "text/plain"}, params=params, expect=expect
    )


async def test_create_then_upload(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    before = now_ms()
    created = await alice.post(CREATE)
    mxc = created["content_uri"]
    assert split_mxc(mxc)[0] == hs.config.server_name
    assert created["unused_expires_at"] >= before + 24 * 3600 * 1000

    # Not there yet: 504 M_NOT_YET_UPLOADED once the (short) wait is over.
    error = await bob.get(download_path(mxc), params={"timeout_ms": "0"}, expect=504)
    assert_error(error, "M_NOT_YET_UPLOADED")

    data = os.urandom(70_000)
    assert await put(alice, mxc, data, filename="notes.txt") == {}
    assert await bob.get(download_path(mxc)) == data
    assert bob.last_response.headers["Content-Disposition"] == 'inline; filename="notes.txt"'

    error = await put(alice, mxc, b"again", expect=409)
    assert_error(error, "M_CANNOT_OVERWRITE_MEDIA")
    assert await bob.get(download_path(mxc)) == data


async def test_a_download_waits_for_the_upload(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    mxc = (await alice.post(CREATE))["content_uri"]
    waiting = asyncio.create_task(bob.get(download_path(mxc), params={"timeout_ms": "30000"}))
    await put(alice, mxc, b"worth the wait")
    assert await waiting == b"worth the wait"


async def test_only_the_creator_may_upload(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    mxc = (await alice.post(CREATE))["content_uri"]
    assert_error(await put(bob, mxc, b"mine now", expect=403), "M_FORBIDDEN")
    assert_error(
        await bob.get(download_path(mxc), params={"timeout_ms": "0"}, expect=504), "M_NOT_YET_UPLOADED"
    )
    await put(alice, mxc, b"alice's")
    assert await bob.get(download_path(mxc)) == b"alice's"


async def test_unknown_and_foreign_media_ids(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    server = hs.config.server_name
    assert_error(await put(alice, f"mxc://{server}/neverCreated", b"x", expect=404), "M_NOT_FOUND")
    assert_error(await put(alice, "mxc://other.example/abc", b"x", expect=404), "M_NOT_FOUND")
    # A media ID from POST /upload cannot be overwritten either.
    uploaded = (await alice.post("/_matrix/media/v3/upload", data=b"done"))["content_uri"]
    assert_error(await put(alice, uploaded, b"x", expect=409), "M_CANNOT_OVERWRITE_MEDIA")
    assert await alice.get(download_path(uploaded)) == b"done"


async def test_pending_uploads_are_limited(make_hs: MakeServer) -> None:
    hs = await make_hs(media=Media(max_pending_uploads=2))
    alice, bob = await hs.register("alice"), await hs.register("bob")
    first = (await alice.post(CREATE))["content_uri"]
    await alice.post(CREATE)
    error = await alice.post(CREATE, expect=429)
    assert_error(error, "M_LIMIT_EXCEEDED")
    assert error["retry_after_ms"] > 0
    await bob.post(CREATE)  # per user
    await put(alice, first, b"one done")  # no longer pending: room for another
    await alice.post(CREATE)
    assert await media_rows(hs) == 4


async def test_pending_uploads_expire(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert alice.user_id is not None
    created = now_ms() - 10_000  # created long ago, expired a millisecond ago
    await MediaStore(hs.app[DATABASE]).add_pending("expiredId", alice.user_id, created, now_ms() - 1)
    mxc = f"mxc://{hs.config.server_name}/expiredId"
    assert_error(await put(alice, mxc, b"too late", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get(download_path(mxc), expect=404), "M_NOT_FOUND")
    assert await media_rows(hs) == 1
    await hs.app[MEDIA].sweep()
    assert await media_rows(hs) == 0
    assert stored_files(hs) == []


async def test_oversized_async_upload_leaves_the_id_pending(make_hs: MakeServer) -> None:
    hs = await make_hs(media=Media(max_upload_size=1000))
    alice = await hs.register("alice")
    mxc = (await alice.post(CREATE))["content_uri"]
    assert_error(await put(alice, mxc, b"x" * 1001, expect=413), "M_TOO_LARGE")
    assert stored_files(hs) == [] and stored_files(hs, "tmp") == []
    await put(alice, mxc, b"x" * 1000)
    assert await alice.get(download_path(mxc)) == b"x" * 1000


async def test_fill_pending_races_once(database: Database) -> None:
    """Two uploads to one pending ID: the conditional update lets exactly one through."""
    store = MediaStore(database)
    now = now_ms()
    await store.add_pending("racyId", "@alice:x", now, now + 60_000)
    content = Content("a" * 64, 3, "text/plain", None)
    results = await asyncio.gather(*(store.fill_pending("racyId", content, now) for _ in range(2)))
    assert sorted(results) == [False, True]
    info = await store.get("racyId")
    assert info is not None and not info.pending and info.sha256 == "a" * 64
