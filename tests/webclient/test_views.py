"""The page shell's HTTP side: security headers on every non-API response, a Host header that
cannot inject into the Content-Security-Policy, the service worker at the root scope."""

from __future__ import annotations

import aiohttp
import pytest

from tests.helpers import HomeserverUnderTest
from webclient.views import content_security_policy

SAME_LOOP = pytest.mark.asyncio(loop_scope="module")  # the module's server runs in that loop


@pytest.mark.parametrize(
    "host",
    ["evil.example; script-src *", "a'b", "x y", "", "a" * 300, "[::1]:8008 'unsafe-inline'", "h\u00e9llo"],
)
def test_hostile_host_stays_out_of_the_policy(host: str) -> None:
    policy = content_security_policy(host)
    assert "ws:" not in policy and "*" not in policy and "unsafe" not in policy
    assert policy == content_security_policy("")


@pytest.mark.parametrize("host", ["localhost:8008", "chat.example.org", "[::1]:8448", "127.0.0.1"])
def test_real_hosts_may_open_the_socket(host: str) -> None:
    assert f"connect-src 'self' ws://{host} wss://{host};" in content_security_policy(host)


@SAME_LOOP
async def test_headers_on_the_shell_not_on_the_api(web_hs: HomeserverUnderTest) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/static/js/main.js", "/static/app.css", "/sw.js", "/manifest.webmanifest"):
            async with http.get(web_hs.base_url + path) as resp:
                assert resp.status == 200, path
                assert "script-src 'self';" in resp.headers["Content-Security-Policy"]
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["Referrer-Policy"] == "no-referrer"
        async with http.get(web_hs.base_url + "/_matrix/client/versions") as resp:
            assert "script-src 'self';" not in resp.headers.get("Content-Security-Policy", "")
        async with http.get(web_hs.base_url + "/", headers={"Host": "evil; script-src *"}) as resp:
            assert "evil" not in resp.headers["Content-Security-Policy"]
        async with http.get(web_hs.base_url + "/static/../homeserver/config.py") as resp:
            assert resp.status in (403, 404)
        async with http.get(web_hs.base_url + "/static/js/missing.js") as resp:
            assert resp.status == 404


@SAME_LOOP
async def test_page_shell(web_hs: HomeserverUnderTest) -> None:
    async with aiohttp.ClientSession() as http, http.get(web_hs.base_url + "/") as resp:
        page = await resp.text()
    assert '<script type="module" src="/static/js/main.js"></script>' in page
    assert 'data-server-name="localhost"' in page
    assert "<script>" not in page and "style=" not in page  # nothing inline
