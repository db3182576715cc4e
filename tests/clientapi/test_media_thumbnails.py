"""GET /_matrix/client/v1/media/thumbnail: dimensions, content types, caching, bad requests,
and a decompression bomb that must not take the server's memory."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE
from homeserver.config import Media
from homeserver.storage.tables import media_thumbnails
from tests.clientapi.conftest import MakeServer
from tests.clientapi.media_helpers import (
    animated_gif,
    current_peak_rss_kib,
    image_bytes,
    image_of,
    peak_rss_kib,
    png_bomb,
    stored_files,
    thumbnail_path,
    upload,
)
from tests.clientapi.util import assert_cors, assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def thumb(client: MatrixClient, mxc: str, expect: int = 200, **params: str) -> Any:
    return await client.get(thumbnail_path(mxc), params=params, expect=expect)


async def thumbnail_rows(hs: HomeserverUnderTest) -> int:
    query = select(func.count()).select_from(media_thumbnails)
    return int(await hs.app[DATABASE].fetch_value(query))


async def test_thumbnail_dimensions_and_content_type(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    png = await upload(alice, image_bytes((1000, 800)), "image/png", filename="big.png")
    data = await thumb(bob, png, width="96", height="96", method="crop")
    assert image_of(data).size == (96, 96) and image_of(data).format == "PNG"
    headers = bob.last_response.headers
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == 'inline; filename="thumbnail.png"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"].startswith("sandbox;")
    assert_cors(bob)

    # Not smaller than asked: 50x50 gets the 96x96 thumbnail; scale keeps the aspect ratio.
    assert image_of(await thumb(bob, png, width="50", height="50", method="crop")).size == (96, 96)
    assert image_of(await thumb(bob, png, width="320", height="240")).size == (300, 240)
    assert image_of(await thumb(bob, png, width="5000", height="5000")).size == (750, 600)

    jpeg = await upload(alice, image_bytes((1000, 800), "JPEG"), "image/jpeg")
    data = await thumb(bob, jpeg, width="640", height="480", method="scale")
    assert bob.last_response.headers["Content-Type"] == "image/jpeg"
    assert image_of(data).size == (600, 480)


async def test_thumbnails_are_made_once(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    mxc = await upload(alice, image_bytes((500, 500), color="blue"), "image/png")
    results = await asyncio.gather(
        *(thumb(alice, mxc, width="32", height="32", method="crop") for _ in range(4))
    )
    again = await thumb(alice, mxc, width="30", height="30", method="crop")
    assert all(r == again for r in results)
    assert await thumbnail_rows(hs) == 1
    assert len(stored_files(hs, "thumbnails")) == 1
    # The same image uploaded again shares the content and so the thumbnail.
    copy = await upload(alice, image_bytes((500, 500), color="blue"), "image/png")
    assert await thumb(alice, copy, width="32", height="32", method="crop") == again
    assert await thumbnail_rows(hs) == 1


async def test_animated_thumbnail_only_when_asked(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    mxc = await upload(alice, animated_gif(), "image/gif")
    await thumb(alice, mxc, width="96", height="96", method="crop")
    assert alice.last_response.headers["Content-Type"] == "image/png"
    await thumb(alice, mxc, width="96", height="96", method="crop", animated="false")
    assert alice.last_response.headers["Content-Type"] == "image/png"
    await thumb(alice, mxc, width="96", height="96", method="crop", animated="true")
    assert alice.last_response.headers["Content-Type"] == "image/webp"


async def test_what_cannot_be_thumbnailed(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    text = await upload(alice, b"just text", "text/plain")
    assert_error(await thumb(alice, text, 400, width="32", height="32"), "M_UNKNOWN")
    lying = await upload(alice, b"<html>not a png</html>", "image/png")
    assert_error(await thumb(alice, lying, 400, width="32", height="32"), "M_UNKNOWN")
    svg = await upload(alice, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    assert_error(await thumb(alice, svg, 400, width="32", height="32"), "M_UNKNOWN")
    assert await thumbnail_rows(hs) == 0


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"height": "32"}, "M_MISSING_PARAM"),
        ({"width": "32"}, "M_MISSING_PARAM"),
        ({"width": "-1", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "0", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "abc", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "1.5", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "99999999999999999999", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "32", "height": "32", "method": "zoom"}, "M_INVALID_PARAM"),
        ({"width": "32", "height": "32", "animated": "yes"}, "M_INVALID_PARAM"),
        ({"width": "32", "height": "32", "timeout_ms": "-5"}, "M_INVALID_PARAM"),
    ],
)
async def test_bad_thumbnail_requests(hs: HomeserverUnderTest, params: dict[str, str], errcode: str) -> None:
    alice = await hs.register("alice")
    mxc = await upload(alice, image_bytes((100, 100)), "image/png")
    assert_error(await thumb(alice, mxc, 400, **params), errcode)
    assert await thumbnail_rows(hs) == 0


async def test_decompression_bomb_is_refused_without_growing(make_hs: MakeServer) -> None:
    """The server runs in this process: its peak memory is what we measure."""
    hs = await make_hs(media=Media(max_thumbnail_pixels=16_000_000))
    alice = await hs.register("alice")
    bomb = await upload(alice, png_bomb(20_000, 20_000), "image/png")  # 400 megapixels, ~50 KiB
    before = peak_rss_kib()
    if before is None:
        pytest.skip("no /proc/self/status here")
    for method in ("crop", "scale"):
        error = await thumb(alice, bomb, 413, width="800", height="600", method=method)
        assert_error(error, "M_TOO_LARGE")
    assert current_peak_rss_kib() - before < 32 * 1024
    assert await thumbnail_rows(hs) == 0
    # The server is fine and still makes thumbnails of reasonable images.
    fine = await upload(alice, image_bytes((200, 200)), "image/png")
    assert image_of(await thumb(alice, fine, width="96", height="96", method="crop")).size == (96, 96)
