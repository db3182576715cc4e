"""Hostile messages render inert. One reader has the page's CSP switched off, so that the
sanitiser alone must hold; a second reader has it on. Nothing may run: a window flag stays
unset and no dialog opens."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.webclient.conftest import PAGE_ERRORS, MakePerson, Person

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAYLOAD = "window.__xss = (window.__xss || 0) + 1; alert('xss')"
HOSTILE_HTML = [
    f'<img src=x onerror="{PAYLOAD}">',
    f"<script>{PAYLOAD}</script>",
    f'<a href="javascript:{PAYLOAD}">js link</a>',
    f'<a href="  JaVaScRiPt:{PAYLOAD}">spaced js link</a>',
    '<a href="data:text/html,<script>alert(1)</script>">data link</a>',
    f'<svg><animate onbegin="{PAYLOAD}" attributeName="x" dur="1s"/></svg>',
    f'<iframe src="javascript:{PAYLOAD}"></iframe><object data="javascript:alert(1)"></object>',
    f'<div onclick="{PAYLOAD}" style="position:fixed;inset:0">click me div</div>',
    f"<noscript><p title=\"</noscript><img src=x onerror='{PAYLOAD}'>\"></noscript>",
    f'<math><mtext><table><mglyph><style><img src=x onerror="{PAYLOAD}">'
    "</style></mglyph></table></mtext></math>",
    f'<form action="javascript:alert(1)"><button>go</button></form><input autofocus onfocus="{PAYLOAD}">',
    f'<details open ontoggle="{PAYLOAD}"><summary>sum</summary>x</details>',
    '<a href="https://example.org/ok" target="_self" rel="opener">safe link</a>',
]


async def no_script_ran(p: Person) -> None:
    assert await p.page.evaluate("window.__xss === undefined"), "a hostile payload ran"
    assert p.dialogs == []


def forgive_parser_csp_reports() -> None:
    """Chromium reports the hostile handlers and styles as CSP violations already when
    DOMParser reads them into its inert document (where nothing runs, as the CSP-less reader
    shows); only those reports are expected here."""
    reports = [e for e in PAGE_ERRORS if "Content Security Policy" in e]
    assert all("inline event handler" in e or "inline style" in e for e in reports), reports
    PAGE_ERRORS[:] = [e for e in PAGE_ERRORS if e not in reports]


async def test_hostile_messages_render_inert(person: MakePerson) -> None:
    alice = await person("alice")
    bob = await person("bob", bypass_csp=True)
    carol = await person("carol")
    room = (await alice.client.post("/createRoom", {"name": "Hostile", "preset": "public_chat"}))["room_id"]
    for p in (bob, carol):
        await p.client.post(f"/join/{room}")
        await p.open_room("Hostile")
    for i, html in enumerate(HOSTILE_HTML):
        content = {
            "msgtype": "m.text",
            "body": f"hostile {i}",
            "format": "org.matrix.custom.html",
            "formatted_body": html,
        }
        await alice.client.put(f"/rooms/{room}/send/m.room.message/x{i}", content)
    await alice.client.put(
        f"/rooms/{room}/send/m.room.message/plain",
        {"msgtype": "m.text", "body": f'<img src=x onerror="{PAYLOAD}">'},
    )
    await alice.client.put(
        f"/rooms/{room}/send/m.room.message/last", {"msgtype": "m.text", "body": "the end"}
    )
    for p in (bob, carol):
        await expect(p.page.locator(".message", has_text="the end")).to_be_visible()
        timeline = p.page.locator(".timeline")
        for tag in ("img", "script", "svg", "iframe", "object", "form", "input", "style", "math"):
            await expect(timeline.locator(tag)).to_have_count(0)
        # The plain body shows the markup as text.
        await expect(p.page.locator(".message .body.plain", has_text="<img src=x onerror=")).to_be_visible()
        hrefs = await timeline.locator(".body a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        assert hrefs == ["https://example.org/ok"]
        safe = timeline.locator(".body a", has_text="safe link")
        await expect(safe).to_have_attribute("rel", "noopener noreferrer")
        await expect(safe).to_have_attribute("target", "_blank")
        handlers = await timeline.evaluate(
            "el => [...el.querySelectorAll('*')].flatMap(n => [...n.attributes].map(a => a.name))"
            ".filter(a => a.startsWith('on') || a === 'style')"
        )
        assert handlers == []
        # Clicking what is left of the javascript: links and the div does nothing.
        await timeline.get_by_text("js link", exact=True).click()
        await timeline.get_by_text("click me div").click()
        await timeline.get_by_text("sum", exact=True).click()
        await no_script_ran(p)
    forgive_parser_csp_reports()


async def test_hostile_markdown_names_and_quotes(person: MakePerson) -> None:
    alice = await person("alice")
    bob = await person("bob", bypass_csp=True)
    await alice.client.put(
        f"/profile/{alice.user_id}/displayname", {"displayname": f'<img src=x onerror="{PAYLOAD}">'}
    )
    room = (
        await alice.client.post(
            "/createRoom", {"name": f'<b onmouseover="{PAYLOAD}">Room</b>', "preset": "public_chat"}
        )
    )["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Room")
    await bob.open_room("Room")
    await alice.say(f"[click](javascript:{PAYLOAD}) and <script>{PAYLOAD}</script>")
    body = bob.page.locator(".message .body", has_text="and <script>")
    await expect(body).to_be_visible()
    await expect(body.locator("a")).to_have_count(0)
    target = bob.page.locator(".message", has_text="and <script>")
    await target.hover()
    await target.get_by_role("button", name="Reply", exact=True).click()
    await bob.say("quoted")
    await expect(alice.page.locator(".reply-quote", has_text="<script>")).to_be_visible()
    await expect(bob.page.locator(".sender-name", has_text="<img src=x").first).to_be_visible()
    await expect(bob.page.locator(".room-title")).to_have_text(f'<b onmouseover="{PAYLOAD}">Room</b>')
    await bob.page.locator(".room-title").hover()
    for p in (alice, bob):
        await expect(p.page.locator("img")).to_have_count(0)
        await no_script_ran(p)
    forgive_parser_csp_reports()
