"""Uploads and downloads (spec: "Content repository"): byte-identical round trips, safe serving
headers, dedup on disk, size limits, auth, malformed IDs and the frozen legacy endpoints."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator

import pytest

from homeserver.config import Media, RateLimit, RateLimits, Registration
from tests.clientapi.conftest import MakeServer
from tests.clientapi.media_helpers import (
    MEDIA_V1,
    UPLOAD,
    download_path,
    image_bytes,
    media_rows,
    split_mxc,
    stored_files,
    thumbnail_path,
    upload,
)
from tests.clientapi.util import assert_cors, assert_error
from tests.helpers import HomeserverUnderTest


async def test_upload_then_download_is_byte_identical(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    data = os.urandom(300_000)  # several chunks
    mxc = await upload(alice, data, "application/pdf", filename="War and Peace.pdf")
    assert split_mxc(mxc)[0] == hs.config.server_name

    body = await bob.get(download_path(mxc))
    assert body == data
    headers = bob.last_response.headers
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == 'attachment; filename="War and Peace.pdf"'
    assert headers["Content-Security-Policy"].startswith("sandbox; default-src 'none';")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert_cors(bob)

    # The file name in the path replaces the uploaded one.
    assert await bob.get(download_path(mxc, "other.pdf")) == data
    assert bob.last_response.headers["Content-Disposition"] == 'attachment; filename="other.pdf"'


async def test_inline_only_for_safe_types(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    png = await upload(alice, image_bytes((4, 4)), "image/png", filename="dot.png")
    await alice.get(download_path(png))
    assert alice.last_response.headers["Content-Disposition"] == 'inline; filename="dot.png"'

    html = await upload(alice, b"<script>alert(1)</script>", "text/html")
    assert await alice.get(download_path(html)) == b"<script>alert(1)</script>"
    assert alice.last_response.headers["Content-Type"].startswith("text/html")
    assert alice.last_response.headers["Content-Disposition"] == "attachment"  # no file name given
    assert "sandbox" in alice.last_response.headers["Content-Security-Policy"]

    # No Content-Type header: application/octet-stream, the spec's default.
    bare = await upload(alice, b"\x00\x01", None)
    await alice.get(download_path(bare))
    assert alice.last_response.headers["Content-Type"] == "application/octet-stream"
    # A content type that is not one is served as application/octet-stream too.
    odd = await upload(alice, b"x", "not a type")
    await alice.get(download_path(odd))
    assert alice.last_response.headers["Content-Type"] == "application/octet-stream"


async def test_file_names_are_sanitised_in_the_header(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    mxc = await upload(alice, b"hi", "text/plain", filename='../../etc/"passwd"\r\nSet-Cookie: x=1')
    assert await alice.get(download_path(mxc)) == b"hi"
    disposition = alice.last_response.headers["Content-Disposition"]
    assert disposition == 'inline; filename=".._.._etc_\\"passwd\\"Set-Cookie: x=1"'
    assert "Set-Cookie" not in alice.last_response.headers

    unicode_name = await upload(alice, b"hi", "text/plain", filename="résumé ✓.txt")
    await alice.get(download_path(unicode_name))
    disposition = alice.last_response.headers["Content-Disposition"]
    assert disposition == "inline; filename*=utf-8''r%C3%A9sum%C3%A9%20%E2%9C%93.txt"
    assert alice.last_response.content_disposition is not None
    assert alice.last_response.content_disposition.filename == "résumé ✓.txt"


async def test_bad_file_names_are_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await upload(alice, b"x", filename="a\x00b", expect=400), "M_INVALID_PARAM")
    assert_error(await upload(alice, b"x", filename="n" * 256, expect=400), "M_INVALID_PARAM")
    assert await media_rows(hs) == 0 and stored_files(hs) == []


async def test_identical_uploads_are_stored_once(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    data = os.urandom(5000)
    first = await upload(alice, data, "application/octet-stream")
    second = await upload(bob, data, "image/png", filename="same.png")
    assert first != second
    assert len(stored_files(hs)) == 1
    await upload(alice, data + b"!", "application/octet-stream")
    assert len(stored_files(hs)) == 2
    # Each media ID keeps its own metadata.
    await alice.get(download_path(second))
    assert alice.last_response.headers["Content-Type"] == "image/png"
    await alice.get(download_path(first))
    assert alice.last_response.headers["Content-Type"] == "application/octet-stream"
    assert await media_rows(hs) == 3


async def test_range_requests(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    data = bytes(range(256)) * 40
    mxc = await upload(alice, data, "video/mp4")
    part = await alice.get(download_path(mxc), headers={"Range": "bytes=100-199"}, expect=206)
    assert part == data[100:200]
    assert alice.last_response.headers["Content-Range"] == f"bytes 100-199/{len(data)}"


async def test_r0_media_paths_for_older_clients(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    mxc = (await alice.post("/_matrix/media/r0/upload", data=b"old style"))["content_uri"]
    assert await alice.get(download_path(mxc)) == b"old style"
    assert await alice.get("/_matrix/media/r0/config") == {"m.upload.size": 50 * 1024 * 1024}
    # The client API's r0 aliasing leaves the media paths alone.
    assert_error(await alice.get("/_matrix/client/r0/media/config", expect=404), "M_UNRECOGNIZED")


async def test_config(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    for path in (f"{MEDIA_V1}/config", "/_matrix/media/v3/config"):
        assert await alice.get(path) == {"m.upload.size": 50 * 1024 * 1024}


LIMIT = 1024


async def test_oversized_upload_refused_and_nothing_stored(make_hs: MakeServer) -> None:
    hs = await make_hs(media=Media(max_upload_size=LIMIT))
    alice = await hs.register("alice")
    assert await alice.get(f"{MEDIA_V1}/config") == {"m.upload.size": LIMIT}
    assert_error(await upload(alice, b"x" * (LIMIT + 1), expect=413), "M_TOO_LARGE")
    assert_cors(alice)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(50):
            yield b"y" * 4096

    assert alice.http is not None
    headers = {"Authorization": f"Bearer {alice.access_token}", "Content-Type": "text/plain"}
    async with alice.http.post(alice.url(UPLOAD), data=chunks(), headers=headers) as resp:
        assert resp.status == 413
        assert_error(await resp.json(), "M_TOO_LARGE")

    assert await media_rows(hs) == 0
    assert stored_files(hs) == []
    assert stored_files(hs, "tmp") == []
    # At the limit the upload is taken, whatever the request body limit of the JSON API.
    big_hs_limit = hs.config.max_request_body_bytes
    assert LIMIT <= big_hs_limit
    mxc = await upload(alice, b"z" * LIMIT)
    assert await alice.get(download_path(mxc)) == b"z" * LIMIT


async def test_uploads_bigger_than_the_json_body_limit(make_hs: MakeServer) -> None:
    hs = await make_hs(max_request_body_bytes=1024)
    alice = await hs.register("alice")
    data = os.urandom(200_000)
    mxc = await upload(alice, data)
    assert await alice.get(download_path(mxc)) == data
    # JSON endpoints keep their own limit.
    path = f"/profile/{alice.user_id}/displayname"
    assert_error(await alice.put(path, data=b"{" + b" " * 5000 + b"}", expect=413), "M_TOO_LARGE")


async def test_upload_rate_limit(make_hs: MakeServer, hs: HomeserverUnderTest) -> None:
    limits = dataclasses.replace(RateLimits(), media_upload=RateLimit(per_second=0.001, burst=2))
    limited = await make_hs(rate_limits=limits)
    alice = await limited.register("alice")
    await upload(alice, b"1")
    await upload(alice, b"2")
    error = await upload(alice, b"3", expect=429)
    assert_error(error, "M_LIMIT_EXCEEDED")
    assert error["retry_after_ms"] > 0
    assert await media_rows(limited) == 2


async def test_authentication_required(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    mxc = await upload(alice, b"secret")
    anon = hs.client()
    for path in (
        download_path(mxc),
        download_path(mxc, "f.txt"),
        thumbnail_path(mxc) + "?width=32&height=32",
        f"{MEDIA_V1}/config",
        f"{MEDIA_V1}/preview_url?url=http://example.org/",
    ):
        assert_error(await anon.get(path, expect=401), "M_MISSING_TOKEN")
    assert_error(await anon.post(UPLOAD, data=b"x", expect=401), "M_MISSING_TOKEN")
    assert_error(await anon.post("/_matrix/media/v1/create", expect=401), "M_MISSING_TOKEN")
    bad = hs.client("not-a-token")
    assert_error(await bad.get(download_path(mxc), expect=401), "M_UNKNOWN_TOKEN")
    # The query-string token is refused, as everywhere on this server.
    assert alice.access_token is not None
    path = download_path(mxc) + "?access_token=" + alice.access_token
    assert_error(await anon.get(path, expect=401), "M_MISSING_TOKEN")
    assert await media_rows(hs) == 1


async def test_guests_may_download_but_not_upload(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(allow_guests=True))
    alice = await hs.register("alice")
    mxc = await upload(alice, image_bytes((64, 64)), "image/png")
    result = await hs.client().post("/register", {}, params={"kind": "guest"})
    guest = hs.client(result["access_token"])
    assert await guest.get(download_path(mxc)) == await alice.get(download_path(mxc))
    await guest.get(thumbnail_path(mxc), params={"width": "32", "height": "32"})
    assert guest.last_response.headers["Content-Type"] == "image/png"
    assert_error(await upload(guest, b"x", expect=403), "M_GUEST_ACCESS_FORBIDDEN")
    assert_error(await guest.post("/_matrix/media/v1/create", expect=403), "M_GUEST_ACCESS_FORBIDDEN")
    assert await media_rows(hs) == 1


@pytest.mark.parametrize(
    "media_id",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "..",
        "abc.def",
        "a%00b",
        "a%20b",
        "%C3%A9t%C3%A9",
        "x" * 256,
    ],
)
async def test_malformed_media_ids_are_refused(hs: HomeserverUnderTest, media_id: str) -> None:
    alice = await hs.register("alice")
    await upload(alice, b"data")
    server = hs.config.server_name
    for path in (
        f"{MEDIA_V1}/download/{server}/{media_id}",
        f"{MEDIA_V1}/thumbnail/{server}/{media_id}?width=32&height=32",
    ):
        error = await alice.request("GET", path, expect=alice_status(media_id))
        assert error["errcode"] in ("M_INVALID_PARAM", "M_UNRECOGNIZED"), error
    error = await alice.put(
        f"/_matrix/media/v3/upload/{server}/{media_id}", data=b"x", expect=alice_status(media_id)
    )
    assert error["errcode"] in ("M_INVALID_PARAM", "M_UNRECOGNIZED"), error
    assert await media_rows(hs) == 1


def alice_status(media_id: str) -> int:
    """Segments that decode to '.' or '..' never reach a handler: the router answers 404."""
    return 404 if media_id in ("..", "%2e%2e") else 400


async def test_bad_server_names_unknown_and_remote_media(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.get(f"{MEDIA_V1}/download/bad_name/abc", expect=400), "M_INVALID_PARAM")
    assert_error(await alice.get(f"{MEDIA_V1}/download/a%2Fb/abc", expect=400), "M_INVALID_PARAM")
    server = hs.config.server_name
    assert_error(await alice.get(f"{MEDIA_V1}/download/{server}/unknownMediaId", expect=404), "M_NOT_FOUND")
    # Remote media needs federation: not found for now.
    assert_error(await alice.get(f"{MEDIA_V1}/download/other.example/abc", expect=404), "M_NOT_FOUND")


async def test_legacy_endpoints_are_frozen_by_default(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    mxc = await upload(alice, image_bytes((64, 64)), "image/png")
    server, media_id = split_mxc(mxc)
    anon = hs.client()
    for prefix in ("/_matrix/media/v3", "/_matrix/media/r0"):
        assert_error(await anon.get(f"{prefix}/download/{server}/{media_id}", expect=404), "M_NOT_FOUND")
        path = f"{prefix}/thumbnail/{server}/{media_id}?width=32&height=32"
        assert_error(await anon.get(path, expect=404), "M_NOT_FOUND")


async def test_legacy_endpoints_serve_media_from_before_the_freeze(make_hs: MakeServer) -> None:
    # Frozen "from the year 3000": everything uploaded now is from before the freeze.
    hs = await make_hs(media=Media(legacy_frozen_after_ms=32_503_680_000_000))
    alice = await hs.register("alice")
    data = image_bytes((64, 64))
    server, media_id = split_mxc(await upload(alice, data, "image/png"))
    anon = hs.client()
    assert await anon.get(f"/_matrix/media/v3/download/{server}/{media_id}") == data
    assert anon.last_response.headers["X-Content-Type-Options"] == "nosniff"
    await anon.get(f"/_matrix/media/r0/thumbnail/{server}/{media_id}?width=32&height=32")
    assert anon.last_response.headers["Content-Type"] == "image/png"


async def test_legacy_endpoints_unfrozen(make_hs: MakeServer) -> None:
    hs = await make_hs(media=Media(legacy_frozen=False))
    alice = await hs.register("alice")
    server, media_id = split_mxc(await upload(alice, b"old client", "text/plain"))
    assert await hs.client().get(f"/_matrix/media/v3/download/{server}/{media_id}/x.txt") == b"old client"
