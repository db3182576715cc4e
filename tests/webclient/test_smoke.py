"""Smoke test of the web client: two people chat in real time."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.webclient.conftest import MakePerson

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_two_people_chat(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Lobby", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Lobby")
    await bob.open_room("Lobby")
    await alice.say("hello **bob**")
    message = bob.page.locator(".message .body", has_text="hello bob")
    await expect(message).to_be_visible()
    await expect(message.locator("strong")).to_have_text("bob")
