"""The timeline between two people in real time: markdown, replies, edits, deletes,
reactions, typing, read receipts, grouping, day separators, back-scroll and search."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Locator, Route, expect

from homeserver.rooms import new_room, send
from tests.webclient.conftest import MakePerson, Person

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def chatting(person: MakePerson, name: str = "Lobby") -> tuple[Person, Person, str]:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": name, "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room(name)
    await bob.open_room(name)
    return alice, bob, room


def message(p: Person, text: str) -> Locator:
    return p.page.locator(".message", has_text=text)


async def test_markdown_and_grouping(person: MakePerson) -> None:
    alice, bob, room = await chatting(person)
    await alice.say("**bold** and *soft* and `code` and [docs](https://example.org/x)")
    body = bob.page.locator(".message .body", has_text="bold and soft")
    await expect(body.locator("strong")).to_have_text("bold")
    await expect(body.locator("em")).to_have_text("soft")
    await expect(body.locator("code")).to_have_text("code")
    link = body.locator("a")
    await expect(link).to_have_attribute("href", "https://example.org/x")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    sent = (await bob.client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"}))["chunk"][0]
    assert sent["content"]["format"] == "org.matrix.custom.html"
    assert "<strong>bold</strong>" in sent["content"]["formatted_body"]
    assert sent["content"]["body"].startswith("**bold**")
    await alice.say("second line from alice")
    # The second message joins the first one's group: no sender header of its own.
    second = bob.page.locator(".message", has_text="second line from alice")
    await expect(second).to_have_class("message grouped")
    await expect(bob.page.locator(".timeline .day", has_text="Today")).to_have_count(1)
    await bob.say("and bob answers")
    await expect(
        alice.page.locator(".message", has_text="and bob answers").locator(".sender-name")
    ).to_have_text("Bob")


async def test_day_separators(person: MakePerson, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages from three days, stamped by the server's clock (moved here: the server runs in
    this process), read on a page whose own clock says it is 15 March at noon."""
    alice, bob = await person("alice"), await person("bob", timezone_id="UTC", locale="en-US")
    server_now = [datetime(2026, 3, 12, 9, tzinfo=UTC)]
    for module in (new_room, send):
        monkeypatch.setattr(module, "now_ms", lambda: int(server_now[0].timestamp() * 1000))
    await bob.page.clock.set_fixed_time(datetime(2026, 3, 15, 12, tzinfo=UTC))
    room = (await alice.client.post("/createRoom", {"name": "Calendar", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.client.put(
        f"/rooms/{room}/send/m.room.message/d1", {"msgtype": "m.text", "body": "on Thursday"}
    )
    server_now[0] = datetime(2026, 3, 14, 18, tzinfo=UTC)
    await alice.client.put(
        f"/rooms/{room}/send/m.room.message/d2", {"msgtype": "m.text", "body": "last evening"}
    )
    server_now[0] = datetime(2026, 3, 15, 8, tzinfo=UTC)
    await alice.open_room("Calendar")
    await bob.open_room("Calendar")
    await alice.say("this morning")
    await expect(message(bob, "this morning")).to_be_visible()
    days = bob.page.locator(".timeline .day")
    await expect(days).to_have_text(["Thursday, March 12, 2026", "Yesterday", "Today"])
    # Each day starts a new group under its separator, even for the same sender.
    for day, text in (("Thursday", "on Thursday"), ("Yesterday", "last evening"), ("Today", "this morning")):
        first = bob.page.locator(f'.timeline .day:has-text("{day}") ~ li.message').first
        await expect(first).to_contain_text(text)
        await expect(first.locator(".sender-name")).to_have_text("Alice")


async def test_shift_enter_makes_a_new_line(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    box = alice.page.get_by_label("Message", exact=True)
    await box.type("first")
    await box.press("Shift+Enter")
    await box.type("second")
    await expect(box).to_have_value("first\nsecond")
    await box.press("Enter")
    body = bob.page.locator(".message .body", has_text="first")
    await expect(body).to_have_text("first\nsecond")
    assert await body.inner_text() == "first\nsecond"
    await expect(box).to_have_value("")


async def test_reply_shows_the_quote(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("what time is lunch?")
    original = bob.page.locator(".message", has_text="what time is lunch?")
    await original.hover()
    await original.get_by_role("button", name="Reply", exact=True).click()
    await expect(bob.page.locator(".composer-context")).to_contain_text("Replying to Alice")
    await bob.say("at noon")
    reply = alice.page.locator(".message", has_text="at noon")
    await expect(reply.locator(".reply-quote")).to_contain_text("what time is lunch?")


async def test_up_arrow_edits_the_last_message(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("helo wrold")
    await expect(message(bob, "helo wrold")).to_be_visible()
    box = alice.page.get_by_label("Message", exact=True)
    await box.press("ArrowUp")
    await expect(box).to_have_value("helo wrold")
    await box.fill("hello world")
    await box.press("Enter")
    edited = bob.page.locator(".message", has_text="hello world")
    await expect(edited.locator(".edited")).to_have_text("(edited)")
    await expect(message(bob, "helo wrold")).to_have_count(0)


async def test_delete_a_message(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("oops, wrong room")
    await expect(message(bob, "oops, wrong room")).to_be_visible()
    mine = alice.page.locator(".message", has_text="oops, wrong room")
    await mine.hover()
    await mine.get_by_role("button", name="Delete").click()
    await expect(message(bob, "oops, wrong room")).to_have_count(0)
    await expect(bob.page.locator(".body.redacted")).to_have_text("Message deleted")
    assert alice.dialogs == ["Delete this message?"]


async def test_reactions_with_the_picker(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("ship it?")
    target = bob.page.locator(".message", has_text="ship it?")
    await target.hover()
    await target.get_by_role("button", name="React").click()
    await bob.page.get_by_role("button", name="React with 🚀").click()
    reaction = alice.page.locator(".message", has_text="ship it?").locator(".reaction")
    await expect(reaction).to_have_text("🚀 1")
    await expect(reaction).to_have_attribute("aria-pressed", "false")
    await reaction.click()  # Alice adds hers to the same key
    await expect(bob.page.locator(".message", has_text="ship it?").locator(".reaction")).to_have_text("🚀 2")
    mine = bob.page.locator(".message", has_text="ship it?").locator(".reaction")
    await expect(mine).to_have_attribute("aria-pressed", "true")
    await mine.click()  # Bob takes his back
    await expect(reaction).to_have_text("🚀 1")


async def test_typing_indicator(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.page.get_by_label("Message", exact=True).type("I am writ")
    await expect(bob.page.locator(".typing")).to_have_text("Alice is typing…")
    await alice.page.get_by_label("Message", exact=True).press("Enter")
    await expect(bob.page.locator(".typing")).to_have_text("")


async def test_read_receipts(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("did you read this?")
    await expect(message(bob, "did you read this?")).to_be_visible()
    # Bob has the room open, so his client marks it read and Alice sees so.
    receipts = alice.page.locator('.message:has-text("did you read this?") + li.receipts')
    await expect(receipts).to_have_text("Seen by Bob")


async def test_back_scroll_loads_older_messages(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "History", "preset": "public_chat"}))["room_id"]
    for i in range(80):
        await alice.client.put(
            f"/rooms/{room}/send/m.room.message/t{i}", {"msgtype": "m.text", "body": f"old message {i}"}
        )
    await bob.client.post(f"/join/{room}")
    await bob.open_room("History")
    await expect(message(bob, "old message 79")).to_be_visible()
    await expect(bob.page.locator(".message", has_text="old message 0")).to_have_count(0)
    grew = (
        "n => document.querySelectorAll('.timeline .message').length > n || document.querySelector('.start')"
    )
    pages = 0
    while not await bob.page.locator(".timeline .start").count():
        loaded = await bob.page.locator(".timeline .message").count()
        await bob.page.locator(".timeline-scroll").evaluate("el => el.scrollTop = 0")
        await bob.page.wait_for_function(grew, arg=loaded)
        pages += 1
    assert pages >= 2  # 80 messages take more than one page of /messages
    await expect(bob.page.get_by_text("old message 0", exact=True)).to_be_visible()
    await expect(bob.page.locator(".timeline .message")).to_have_count(80)


async def test_search_in_room(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("the pineapple is ripe")
    await alice.say("something else")
    await expect(message(bob, "something else")).to_be_visible()
    await bob.page.get_by_role("button", name="Search").click()
    await bob.page.get_by_label("Search messages").fill("pineapple")
    await bob.page.get_by_label("Search messages").press("Enter")
    results = bob.page.locator(".search-results li")
    await expect(results).to_have_count(1)
    await expect(results).to_contain_text("the pineapple is ripe")


async def test_thread_view_and_reply(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("release plan for Friday")
    root = bob.page.locator(".message", has_text="release plan for Friday")
    await root.hover()
    await root.get_by_role("button", name="Reply in thread").click()
    await bob.page.get_by_label("Thread reply").fill("I can do the changelog")
    await bob.page.get_by_label("Thread reply").press("Enter")
    await expect(bob.page.locator(".thread .message", has_text="I can do the changelog")).to_be_visible()
    # Alice sees a thread summary under her message, not the reply in the main timeline.
    link = alice.page.locator(".message", has_text="release plan for Friday").locator(".thread-link")
    await expect(link).to_have_text("1 reply in thread")
    await expect(
        alice.page.locator(".timeline-scroll .message", has_text="I can do the changelog")
    ).to_have_count(0)
    await link.click()
    thread = alice.page.locator(".thread")
    await expect(thread.locator(".message")).to_have_count(2)
    await expect(thread.locator(".message").nth(1)).to_contain_text("I can do the changelog")
    await alice.page.get_by_label("Thread reply").fill("thanks!")
    await alice.page.get_by_label("Thread reply").press("Enter")
    await expect(bob.page.locator(".thread .message", has_text="thanks!")).to_be_visible()
    await bob.page.get_by_role("button", name="Close").click()
    await expect(root.locator(".thread-link")).to_have_text("2 replies in thread")


async def test_keyboard_reaches_message_actions(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    await alice.say("answer me by keyboard")
    target = bob.page.locator(".message", has_text="answer me by keyboard")
    await target.focus()
    target_id = await target.get_attribute("data-event-id")
    await bob.page.keyboard.press("Tab")
    await expect(target.get_by_role("button", name="Reply", exact=True)).to_be_focused()
    await bob.page.keyboard.press("Enter")
    await expect(bob.page.locator(".composer-context")).to_contain_text("Replying to Alice")
    await expect(bob.page.get_by_label("Message", exact=True)).to_be_focused()
    await bob.page.keyboard.type("typed without a mouse")
    await bob.page.keyboard.press("Enter")
    reply = alice.page.locator(".message", has_text="typed without a mouse")
    await expect(reply.locator(".reply-quote")).to_contain_text("answer me by keyboard")
    # Reacting by keyboard: Reply, Reply in thread, then React; Escape backs out of the picker.
    target = bob.page.locator(f'.message[data-event-id="{target_id}"]')
    await target.focus()
    for _ in range(3):
        await bob.page.keyboard.press("Tab")
    react = target.get_by_role("button", name="React", exact=True)
    await expect(react).to_be_focused()
    await bob.page.keyboard.press("Enter")
    picker = bob.page.get_by_role("dialog", name="Pick a reaction")
    await expect(picker.get_by_role("button", name="React with 👍")).to_be_focused()
    await bob.page.keyboard.press("Escape")
    await expect(picker).to_have_count(0)
    await expect(react).to_be_focused()
    await bob.page.keyboard.press("Enter")
    await bob.page.keyboard.press("Tab")
    await expect(picker.get_by_role("button", name="React with 👎")).to_be_focused()
    await bob.page.keyboard.press("Enter")
    await expect(alice.page.locator(f'.message[data-event-id="{target_id}"] .reaction')).to_have_text("👎 1")
    await expect(react).to_be_focused()  # back where the keyboard was


async def test_local_echo_then_confirmed_or_failed(person: MakePerson) -> None:
    alice, bob, _ = await chatting(person)
    release = asyncio.Event()
    held: list[str] = []

    async def hold(route: Route) -> None:
        held.append(route.request.url)
        await release.wait()
        await route.continue_()

    await bob.page.route(re.compile(r".*/send/m\.room\.message/.*"), hold)
    await bob.say("on its way")
    echo = bob.page.locator(".message", has_text="on its way")
    await expect(echo).to_have_class(re.compile(r"\bpending\b"))
    await expect(echo.get_by_role("button", name="Reply", exact=True)).to_have_count(0)
    assert len(held) == 1
    await expect(alice.page.locator(".message", has_text="on its way")).to_have_count(0)
    release.set()
    await expect(alice.page.locator(".message", has_text="on its way")).to_be_visible()
    await expect(echo).not_to_have_class(re.compile(r"\bpending\b"))
    await expect(echo).to_have_count(1)  # the echo became the real event, not a second copy
    await bob.page.unroute(re.compile(r".*/send/m\.room\.message/.*"))

    async def refuse(route: Route) -> None:
        await route.fulfill(status=403, json={"errcode": "M_FORBIDDEN", "error": "You may not speak here."})

    await bob.page.route(re.compile(r".*/send/m\.room\.message/.*"), refuse)
    await bob.say("this one fails")
    await expect(bob.page.locator(".toast")).to_have_text("You may not speak here.")
    await expect(bob.page.locator(".message", has_text="this one fails")).to_have_count(0)
    await expect(bob.page.get_by_label("Message", exact=True)).to_have_value("this one fails")
