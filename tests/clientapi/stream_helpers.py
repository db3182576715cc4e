"""Helpers for the tests of the ephemeral streams (presence, to-device, device lists):
rooms shared between users, a clock the test moves, and long-poll wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from homeserver.appkeys import NOTIFIER, ROOMS
from homeserver.ids import UserID
from tests.helpers import HomeserverUnderTest, MatrixClient

WAIT_S = 20.0  # an upper bound for a wake-up that must come; never reached when it does


class FakeClock:
    """Milliseconds that move only when the test says so."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


async def shared_room(owner: MatrixClient, *members: MatrixClient) -> str:
    """A public room made by `owner` that each of `members` has joined."""
    room_id = (await owner.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    assert isinstance(room_id, str)
    for member in members:
        await member.post(f"/join/{room_id}")
    return room_id


def uid(client: MatrixClient) -> UserID:
    assert client.user_id is not None
    return UserID(client.user_id)


async def woken_by(hs: HomeserverUnderTest, user_id: str, action: Awaitable[Any]) -> bool:
    """Whether a long-poll of `user_id` (over their joined rooms) is woken by `action`."""
    rooms = [m.room_id for m in await hs.app[ROOMS].rooms_for_user(user_id)]
    waiter = asyncio.create_task(hs.app[NOTIFIER].wait_for(user_id, rooms, WAIT_S))
    await asyncio.sleep(0)  # the waiter registers before its first await
    await action
    return await waiter
