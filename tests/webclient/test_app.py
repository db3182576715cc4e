"""The web client as an app: its headers and manifest, the service worker, the long-poll
fallback, the reconnecting banner, the phone layout, screenshots in light and dark, and a name
for every control a screen reader announces."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import orjson
import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.helpers import HomeserverUnderTest
from tests.webclient.conftest import SCREENSHOTS, MakePerson, Person, new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")
WS_SYNC = re.compile(r".*/org\.homeserver\.ws/sync.*")


async def fetch(url: str) -> tuple[aiohttp.ClientResponse, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, url
        return resp, await resp.read()


async def test_headers_manifest_and_service_worker(browser: Browser, web_hs: HomeserverUnderTest) -> None:
    page_resp, _ = await fetch(web_hs.base_url + "/")
    csp = page_resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    resp, raw = await fetch(web_hs.base_url + "/manifest.webmanifest")
    assert resp.content_type == "application/manifest+json"
    manifest = orjson.loads(raw)
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        resp, _ = await fetch(web_hs.base_url + icon["src"])
        assert resp.content_type == "image/svg+xml"
    resp, _ = await fetch(web_hs.base_url + "/sw.js")
    assert resp.content_type == "text/javascript"
    context, page, _ = await new_page(browser, service_workers="allow")
    try:
        await page.goto(web_hs.base_url + "/")
        cached = await page.evaluate(
            """async () => {
                await navigator.serviceWorker.ready;
                const cache = await caches.open("app-shell-v4");
                return (await cache.keys()).map((r) => new URL(r.url).pathname);
            }"""
        )
        static = Path(__file__).parents[2] / "webclient" / "static"
        shell = {
            "/static/" + str(p.relative_to(static))
            for p in static.rglob("*")
            if p.suffix in (".js", ".css", ".svg")
        }
        assert shell - {"/static/sw.js"} <= set(cached)  # every module of the app shell is kept
        assert "/" in cached
        assert not [path for path in cached if path.startswith("/_matrix")]
    finally:
        await context.close()


async def test_long_poll_when_websockets_fail(person: MakePerson) -> None:
    alice = await person("alice")
    bob = await person("bob")
    sockets: list[str] = []
    bob.page.on("websocket", lambda ws: sockets.append(ws.url))
    await bob.context.add_init_script("window.WebSocket = undefined;")
    await bob.page.reload()
    room = (await alice.client.post("/createRoom", {"name": "Old school", "preset": "public_chat"}))[
        "room_id"
    ]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Old school")
    await bob.open_room("Old school")
    await alice.say("over long-poll")
    await expect(bob.page.locator(".message", has_text="over long-poll")).to_be_visible()
    await bob.say("and back")
    await expect(alice.page.locator(".message", has_text="and back")).to_be_visible()
    assert sockets == []


async def test_reconnecting_banner(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Flaky", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    routes: list[WebSocketRoute] = []
    offline = False

    async def route(ws: WebSocketRoute) -> None:
        if offline:
            await ws.close(code=1011)
            return
        ws.connect_to_server()
        routes.append(ws)

    await bob.page.route_web_socket(WS_SYNC, route)
    await bob.page.reload()
    await bob.open_room("Flaky")
    banner = bob.page.locator("#banner")
    await expect(banner).to_be_hidden()
    offline = True
    await routes[-1].close(code=1006)
    await expect(banner).to_be_visible()
    await expect(banner).to_have_text("Connection lost. Reconnecting…")
    await alice.client.put(
        f"/rooms/{room}/send/m.room.message/away", {"msgtype": "m.text", "body": "while you were away"}
    )
    offline = False
    await expect(banner).to_be_hidden(timeout=20000)
    await expect(bob.page.locator(".message", has_text="while you were away")).to_have_count(1)
    assert len(routes) == 2


async def test_phone_layout(person: MakePerson) -> None:
    alice = await person("alice")
    bob = await person("bob", viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    room = (await alice.client.post("/createRoom", {"name": "Pocket", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.client.put(
        f"/rooms/{room}/send/m.room.message/p1", {"msgtype": "m.text", "body": "hello small screen"}
    )
    await alice.open_room("Pocket")
    await expect(bob.page.locator(".room-pane")).to_be_hidden()
    await bob.open_room("Pocket")
    await expect(bob.page.locator(".sidebar")).to_be_hidden()
    await expect(bob.page.locator(".message", has_text="hello small screen")).to_be_visible()
    await bob.say("typed on a phone")
    await expect(alice.page.locator(".message", has_text="typed on a phone")).to_be_attached()
    width = await bob.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await bob.screenshot("phone-room-light")
    await bob.page.get_by_role("button", name="Back to rooms").click()
    await expect(bob.page.locator(".sidebar")).to_be_visible()


async def conversation(person: MakePerson, dark: bool) -> tuple[Person, Person]:
    alice, bob = await person("alice", dark=dark), await person("bob", dark=dark)
    for p in (alice, bob):
        await p.page.set_viewport_size({"width": 1100, "height": 700})
    room = (
        await alice.client.post(
            "/createRoom", {"name": "Design review", "topic": "Friday's mockups", "preset": "public_chat"}
        )
    )["room_id"]
    await alice.client.post("/createRoom", {"name": "Random", "preset": "public_chat"})
    await alice.page.locator(".room-list .room", has_text="Random").wait_for()
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Design review")
    await bob.open_room("Design review")
    await alice.say("Morning! The new **dark theme** is in; have a look at `app.css`.")
    await bob.say("Looks great. Two things:\n- the badge is a bit small\n- links need more contrast")
    first_id = await alice.page.locator(".message", has_text="Looks great").get_attribute("data-event-id")
    first = alice.page.locator(f'.message[data-event-id="{first_id}"]')
    await first.hover()
    await first.get_by_role("button", name="Reply", exact=True).click()
    await alice.say("Fair, I'll fix both before lunch")
    await first.hover()
    await first.get_by_role("button", name="React").click()
    await alice.page.get_by_role("button", name="React with 👍").click()
    await expect(bob.page.locator(".reaction", has_text="👍 1")).to_be_visible()
    await expect(bob.page.locator(".reply-quote")).to_be_visible()
    await bob.page.get_by_label("Message", exact=True).type("Thanks")
    await expect(alice.page.locator(".typing")).to_have_text("Bob is typing…")
    return alice, bob


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
async def test_screenshots(
    person: MakePerson, browser: Browser, web_hs: HomeserverUnderTest, dark: bool
) -> None:
    theme = "dark" if dark else "light"
    alice, _ = await conversation(person, dark)
    background = await alice.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(21, 25, 30)" if dark else "rgb(255, 255, 255)")
    await alice.page.mouse.move(0, 0)
    await alice.screenshot(f"room-{theme}")
    await alice.page.get_by_role("button", name="Members").click()
    await alice.screenshot(f"members-{theme}")
    context, page, _ = await new_page(browser, color_scheme=theme, viewport={"width": 1100, "height": 700})
    try:
        await page.goto(web_hs.base_url + "/")
        await page.get_by_label("Username").wait_for()
        await page.screenshot(path=str(SCREENSHOTS / f"login-{theme}.png"))
    finally:
        await context.close()
    assert (SCREENSHOTS / f"room-{theme}.png").stat().st_size > 10000


async def test_unanswered_ping_reconnects(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Sleepy", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        sockets.append(ws)
        # The first socket is a dead line for pings: they never reach the server.
        ws.on_message(lambda m: None if len(sockets) == 1 and '"ping"' in str(m) else server.send(m))
        server.on_message(ws.send)

    await bob.page.clock.install()
    await bob.page.route_web_socket(WS_SYNC, route)
    await bob.page.reload()
    await bob.open_room("Sleepy")
    banner = bob.page.locator("#banner")
    await bob.page.clock.run_for(30_000 + 10_000 + 100)  # a ping goes out, and its deadline passes
    await expect(banner).to_be_visible()
    await alice.client.put(f"/rooms/{room}/send/m.room.message/z", {"msgtype": "m.text", "body": "wake up"})
    await bob.page.clock.run_for(2_000)  # the first backoff
    await expect(banner).to_be_hidden()
    await expect(bob.page.locator(".message", has_text="wake up")).to_be_visible()
    assert len(sockets) == 2


CONTROLS = {
    "button",
    "textbox",
    "searchbox",
    "combobox",
    "checkbox",
    "radio",
    "link",
    "listbox",
    "slider",
    "switch",
}


async def unnamed_controls(page: Page) -> tuple[int, list[str]]:
    """How many controls Chromium's accessibility tree holds, and those without a name."""
    cdp = await page.context.new_cdp_session(page)
    try:
        tree = await cdp.send("Accessibility.getFullAXTree")
    finally:
        await cdp.detach()
    controls = [
        n for n in tree["nodes"] if not n.get("ignored") and n.get("role", {}).get("value") in CONTROLS
    ]
    unnamed = [n["role"]["value"] for n in controls if not str(n.get("name", {}).get("value", "")).strip()]
    return len(controls), unnamed


async def test_every_control_has_a_name(
    person: MakePerson, browser: Browser, web_hs: HomeserverUnderTest
) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Labels", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Labels")
    await bob.open_room("Labels")
    await alice.say("read **me** aloud")
    target = bob.page.locator(".message", has_text="read me aloud")
    await target.focus()  # its actions show
    screens = {"room": await unnamed_controls(bob.page)}
    await target.get_by_role("button", name="React").click()
    screens["emoji picker"] = await unnamed_controls(bob.page)
    await bob.page.keyboard.press("Escape")
    await expect(bob.page.locator(".emoji-picker")).to_have_count(0)
    for name in ("Members", "Settings", "Profile", "Search", "New room", "Browse rooms", "Start chat"):
        await bob.page.get_by_role("button", name=name, exact=True).click()
        await bob.page.locator("dialog[open]").wait_for()
        screens[name] = await unnamed_controls(bob.page)
        await bob.page.locator("dialog[open]").get_by_role("button", name="Close").click()
        await expect(bob.page.locator("dialog[open]")).to_have_count(0)
    context, page, _ = await new_page(browser)
    try:
        await page.goto(web_hs.base_url + "/")
        await page.get_by_label("Username").wait_for()
        screens["sign in"] = await unnamed_controls(page)
    finally:
        await context.close()
    assert {screen: unnamed for screen, (_, unnamed) in screens.items() if unnamed} == {}
    assert all(count >= 3 for count, _ in screens.values()), screens
