"""GET /_matrix/client/v1/media/preview_url: OpenGraph previews, and the SSRF guard.

Every page here is served by a server of the test's own on 127.0.0.1. Addresses the guard must
refuse (10.0.0.1, ::1, ...) are refused before any connection is made, so nothing is ever
sent to them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from homeserver.config import Media, UrlPreview
from tests.clientapi.conftest import MakeServer
from tests.clientapi.media_helpers import MEDIA_V1, download_path, image_bytes
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

PREVIEW = f"{MEDIA_V1}/preview_url"
CAT = image_bytes((64, 48))
MAX_PAGE = 64 * 1024


@dataclass
class Site:
    """A loopback web site that records the paths asked of it."""

    port: int = 0
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    record = Site()

    @web.middleware
    async def count(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        record.hits.append(request.path)
        return await handler(request)

    def redirect(target: str) -> web.Handler:
        async def handler(_: web.Request) -> web.Response:
            raise web.HTTPFound(target.format(port=record.port))

        return handler

    async def page(_: web.Request) -> web.Response:
        html = """<html><head><title>Loopback page</title>
        <meta property="og:title" content="A cat"><meta property="og:image" content="/cat.png">
        </head><body>hello</body></html>"""
        return web.Response(text=html, content_type="text/html")

    async def cat(_: web.Request) -> web.Response:
        return web.Response(body=CAT, content_type="image/png")

    async def big(_: web.Request) -> web.Response:
        return web.Response(text="<html>" + "x" * (MAX_PAGE * 2), content_type="text/html")

    async def stalled(_: web.Request) -> web.Response:
        await asyncio.Event().wait()  # never answers; cancelled when the site closes
        raise AssertionError("unreachable")

    app = web.Application(middlewares=[count])
    app.router.add_get("/stalled", stalled)
    app.router.add_get("/page", page)
    app.router.add_get("/cat.png", cat)
    app.router.add_get("/big", big)
    app.router.add_get("/to-10", redirect("http://10.0.0.1/secret"))
    app.router.add_get("/to-v6", redirect("http://[::1]:{port}/page"))
    app.router.add_get("/to-127-2", redirect("http://127.0.0.2:{port}/page"))
    app.router.add_get("/to-page", redirect("/page"))
    app.router.add_get("/loop", redirect("/loop"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    record.port = server.port
    yield record
    await server.close()


async def preview(client: MatrixClient, url: str, expect: int = 200) -> dict[str, object]:
    result: dict[str, object] = await client.get(PREVIEW, params={"url": url}, expect=expect)
    return result


def previews(allow: tuple[str, ...] = ()) -> Media:
    return Media(url_preview=UrlPreview(enabled=True, ip_allowlist=allow, max_page_bytes=MAX_PAGE))


async def test_previews_are_off_by_default(hs: HomeserverUnderTest, site: Site) -> None:
    alice = await hs.register("alice")
    assert_error(await preview(alice, site.url("/page"), 404), "M_UNRECOGNIZED")
    assert site.hits == []


async def test_private_addresses_are_refused(make_hs: MakeServer, site: Site) -> None:
    hs = await make_hs(media=previews())
    alice = await hs.register("alice")
    for url in (
        site.url("/page"),  # 127.0.0.1
        "http://10.0.0.1/secret",
        f"http://[::1]:{site.port}/page",
        site.url("/page", host="localhost"),  # refused after DNS resolution
        site.url("/page", host="127.1"),  # other spellings of 127.0.0.1
        site.url("/page", host="2130706433"),
        site.url("/page", host="0x7f.0.0.1"),
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::ffff:127.0.0.1]:{site.port}/page",
    ):
        assert_error(await preview(alice, url, 403), "M_FORBIDDEN")
    assert site.hits == []


async def test_redirects_to_private_addresses_are_refused(make_hs: MakeServer, site: Site) -> None:
    hs = await make_hs(media=previews(allow=("127.0.0.1/32",)))
    alice = await hs.register("alice")
    for path in ("/to-10", "/to-v6", "/to-127-2"):
        assert_error(await preview(alice, site.url(path), 403), "M_FORBIDDEN")
    assert site.hits == ["/to-10", "/to-v6", "/to-127-2"]  # the redirect targets were never reached


async def test_preview_of_an_allowed_page(make_hs: MakeServer, site: Site) -> None:
    hs = await make_hs(media=previews(allow=("127.0.0.1/32",)))
    alice, bob = await hs.register("alice"), await hs.register("bob")
    result = await preview(alice, site.url("/to-page"))
    assert result["og:title"] == "A cat"
    assert result["og:image:type"] == "image/png"
    assert result["matrix:image:size"] == len(CAT)
    image = result["og:image"]
    assert isinstance(image, str) and image.startswith(f"mxc://{hs.config.server_name}/")
    assert await bob.get(download_path(image)) == CAT
    assert site.hits == ["/to-page", "/page", "/cat.png"]
    # Cached: asked again, the site is not.
    assert await preview(bob, site.url("/to-page")) == result
    assert len(site.hits) == 3

    direct = await preview(alice, site.url("/cat.png"))
    assert direct["og:image:type"] == "image/png" and direct["matrix:image:size"] == len(CAT)


async def test_limits_and_bad_urls(make_hs: MakeServer, site: Site) -> None:
    hs = await make_hs(media=previews(allow=("127.0.0.1/32",)))
    alice = await hs.register("alice")
    assert_error(await preview(alice, site.url("/big"), 502), "M_UNKNOWN")
    assert_error(await preview(alice, site.url("/loop"), 502), "M_UNKNOWN")
    assert site.hits.count("/loop") == 6  # the first request and five redirects, then it gave up
    assert_error(await preview(alice, site.url("/missing"), 502), "M_UNKNOWN")
    for url in ("ftp://127.0.0.1/", "file:///etc/passwd", "not a url", "http:///nohost"):
        assert_error(await preview(alice, url, 400), "M_INVALID_PARAM")
    assert_error(await alice.get(PREVIEW, expect=400), "M_MISSING_PARAM")
    assert_error(
        await alice.get(PREVIEW, params={"url": site.url("/page"), "ts": "soon"}, expect=400),
        "M_INVALID_PARAM",
    )


async def test_a_page_that_never_answers_is_given_up(make_hs: MakeServer, site: Site) -> None:
    media = Media(url_preview=UrlPreview(enabled=True, ip_allowlist=("127.0.0.1/32",), timeout_s=0.5))
    hs = await make_hs(media=media)
    alice = await hs.register("alice")
    assert_error(await preview(alice, site.url("/stalled"), 502), "M_UNKNOWN")
    assert site.hits == ["/stalled"]
