"""Rooms in the web client, two people at once: creating, the directory, invites, direct
chats, unread badges and the tab title, notifications, members, settings and profile."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.webclient.conftest import MakePerson, Person

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_create_public_room_and_join_from_directory(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    await alice.page.get_by_role("button", name="New room").click()
    await alice.page.get_by_label("Name").fill("Gardening club")
    await alice.page.get_by_label("Topic (optional)").fill("Tomatoes mostly")
    await alice.page.get_by_label("Public: anyone can find and join it").check()
    await alice.page.get_by_role("button", name="Create room").click()
    await expect(alice.page.locator(".room-title")).to_have_text("Gardening club")
    await expect(alice.page.locator(".room-topic")).to_have_text("Tomatoes mostly")

    await bob.page.get_by_role("button", name="Browse rooms").click()
    await bob.page.get_by_label("Search public rooms").fill("garden")
    await bob.page.get_by_label("Search public rooms").press("Enter")
    await bob.page.get_by_role("button", name="Join Gardening club").click()
    await expect(bob.page.locator(".room-title")).to_have_text("Gardening club")
    await expect(alice.page.locator(".state-event", has_text="Bob joined")).to_be_visible()


async def test_private_room_invite_accept_and_decline(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    await alice.page.get_by_role("button", name="New room").click()
    await alice.page.get_by_label("Name").fill("Secret plans")
    await alice.page.get_by_role("button", name="Create room").click()
    await expect(alice.page.locator(".room-title")).to_have_text("Secret plans")
    rule = await alice.client.get(f"/rooms/{await current_room(alice)}/state/m.room.join_rules/")
    assert rule["join_rule"] == "invite"

    await alice.page.get_by_role("button", name="Members").click()
    await alice.page.get_by_label("Invite user").fill(bob.user_id)
    await alice.page.get_by_role("button", name="Invite", exact=True).click()
    await expect(alice.page.locator(".members li", has_text="Invited")).to_contain_text(bob.user_id)
    await alice.page.get_by_role("button", name="Close").click()

    await expect(bob.page.locator(".invite")).to_contain_text("Invited by Alice")
    await bob.page.get_by_role("button", name="Accept invite to Secret plans").click()
    await expect(bob.page.locator(".room-title")).to_have_text("Secret plans")
    await expect(alice.page.locator(".state-event", has_text="Bob joined")).to_be_visible()

    second = (await alice.client.post("/createRoom", {"name": "Spam", "invite": [bob.user_id]}))["room_id"]
    await bob.page.get_by_role("button", name="Decline invite to Spam").click()
    await expect(bob.page.locator(".invite")).to_have_count(0)
    members = await alice.client.get(f"/rooms/{second}/members")
    bob_member = [m for m in members["chunk"] if m["state_key"] == bob.user_id]
    assert bob_member[0]["content"]["membership"] == "leave"


async def current_room(p: Person) -> str:
    room_id = await p.page.locator(".room-list .room.current").get_attribute("data-room-id")
    assert room_id
    return str(room_id)


async def test_direct_chat_from_user_search(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    # The user directory lists people who share a room or are public; share one first.
    shared = (await bob.client.post("/createRoom", {"preset": "public_chat", "name": "Town"}))["room_id"]
    await alice.client.post(f"/join/{shared}")
    await alice.page.get_by_role("button", name="Start chat").click()
    await alice.page.get_by_label("Find people").fill("bob")
    await alice.page.get_by_label("Find people").press("Enter")
    await alice.page.get_by_role("button", name=f"Chat with Bob ({bob.user_id})").click()
    await expect(alice.page.locator(".room-list .room.current")).to_contain_text("@ Bob")
    await bob.page.get_by_role("button", name="Accept invite to Alice").click()
    await alice.say("hi, just us")
    await expect(bob.page.locator(".message", has_text="hi, just us")).to_be_visible()
    direct = await alice.client.get(f"/user/{alice.user_id}/account_data/m.direct")
    assert list(direct) == [bob.user_id]
    history = await bob.client.get(f"/rooms/{direct[bob.user_id][0]}/messages", params={"dir": "b"})
    invites = [e["content"] for e in history["chunk"] if e["content"].get("membership") == "invite"]
    assert [c.get("is_direct") for c in invites] == [True]
    await expect(bob.page.locator(".room-list .room.current")).to_contain_text("@ Alice")
    assert list(await bob.client.get(f"/user/{bob.user_id}/account_data/m.direct")) == [alice.user_id]
    # A direct message notifies Bob once he is looking at another room.
    await bob.page.get_by_role("button", name="Town").click()
    await alice.say("are you there?")
    await bob.page.wait_for_function("() => window.__notifications.some(n => n.body === 'are you there?')")


async def test_unread_badge_title_and_mention_notification(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    quiet = (await alice.client.post("/createRoom", {"name": "Quiet", "preset": "public_chat"}))["room_id"]
    busy = (await alice.client.post("/createRoom", {"name": "Busy", "preset": "public_chat"}))["room_id"]
    for room in (quiet, busy):
        await bob.client.post(f"/join/{room}")
    await bob.open_room("Quiet")
    await alice.open_room("Busy")
    await alice.say("one")
    await alice.say("two, Bob")
    badge = bob.page.locator(".room-list .room", has_text="Busy").locator(".badge")
    await expect(badge).to_have_text("2")
    await expect(badge).to_have_attribute("aria-label", "2 unread, 1 mentioning you")
    await expect(badge).to_have_class("badge highlight")
    await expect(bob.page).to_have_title(f"(2) {await bob.page.evaluate('document.body.dataset.title')}")
    await expect(bob.page.locator(".room-list .room", has_text="Busy").locator(".room-preview")).to_have_text(
        "Alice: two, Bob"
    )
    # "Busy" moved above "Quiet": sorted by activity.
    await expect(bob.page.locator(".room-list .room").first).to_contain_text("Busy")
    await bob.page.wait_for_function("() => window.__notifications.some(n => n.body === 'two, Bob')")
    notes = await bob.page.evaluate("window.__notifications")
    assert [n["body"] for n in notes] == ["two, Bob"]  # "one" did not mention him
    await bob.open_room("Busy")
    await expect(badge).to_have_count(0)
    await expect(bob.page).not_to_have_title("(2)", timeout=5000)


async def test_member_roles_settings_and_profile(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Committee", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await bob.open_room("Committee")
    await bob.page.get_by_role("button", name="Members").click()
    await expect(bob.page.locator(".members li", has_text=alice.user_id).locator(".role")).to_have_text(
        "Owner"
    )
    await expect(bob.page.locator(".members li", has_text=bob.user_id).locator(".role")).to_have_count(0)
    await bob.page.get_by_role("button", name="Close").click()

    await alice.open_room("Committee")
    await alice.page.get_by_role("button", name="Settings").click()
    await alice.page.get_by_label("Room name").fill("Steering committee")
    await alice.page.get_by_label("Topic").fill("Decisions go here")
    await alice.page.get_by_label("Who can join").select_option("invite")
    await alice.page.get_by_role("button", name="Save").click()
    await expect(bob.page.locator(".room-title")).to_have_text("Steering committee")
    await expect(bob.page.locator(".room-topic")).to_have_text("Decisions go here")
    await expect(bob.page.locator(".state-event", has_text="made the room invite only")).to_be_visible()

    await bob.page.get_by_role("button", name="Profile").click()
    await bob.page.get_by_label("Display name").fill("Robert")
    await bob.page.get_by_role("button", name="Save").click()
    await bob.page.locator(".toast", has_text="Display name saved.").wait_for()
    await expect(alice.page.locator(".state-event", has_text="Bob is now Robert")).to_be_visible()
    # The client reads the old name from the server's unsigned.prev_content.
    chunk = (await alice.client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"}))["chunk"]
    assert chunk[0]["unsigned"]["prev_content"]["displayname"] == "Bob"


async def test_leave_a_room(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Goodbyes", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Goodbyes")
    await bob.open_room("Goodbyes")
    await bob.page.get_by_role("button", name="Leave").click()
    await expect(bob.page.locator(".room-list .room", has_text="Goodbyes")).to_have_count(0)
    await expect(bob.page.locator(".empty-pane")).to_be_visible()
    await expect(alice.page.locator(".state-event", has_text="Bob left")).to_be_visible()
    assert bob.dialogs == ["Leave Goodbyes?"]
