"""What a message costs in push storage: members on the same rules share one row for the
event, whatever the room's size, and only a member whose outcome differs (here a mention)
has a row of their own."""

from __future__ import annotations

from sqlalchemy import func, select

from homeserver import appkeys as K
from homeserver.storage.tables import push_events, push_user_actions
from tests.clientapi.test_notifications import _send
from tests.helpers import HomeserverUnderTest


async def _rows(hs: HomeserverUnderTest, event_id: str) -> tuple[int, int]:
    db = hs.app[K.DATABASE]
    common = await db.fetch_value(select(func.count()).where(push_events.c.event_id == event_id))
    own = await db.fetch_value(select(func.count()).where(push_user_actions.c.event_id == event_id))
    return int(common or 0), int(own or 0)


async def test_members_on_the_same_rules_share_one_row(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    others = [await hs.register(f"member{i}") for i in range(5)]
    for other in others:
        await other.post(f"/join/{room}")
    plain = await _send(alice, room, "hello everyone", **{"m.mentions": {}})
    assert await _rows(hs, plain) == (1, 0)
    mention = await _send(alice, room, "hi", **{"m.mentions": {"user_ids": [others[0].user_id]}})
    assert await _rows(hs, mention) == (1, 1)
    for other in others[1:]:
        body = await other.get("/sync")
        assert body["rooms"]["join"][room]["unread_notifications"] == {
            "notification_count": 2,
            "highlight_count": 0,
        }
    body = await others[0].get("/sync")
    assert body["rooms"]["join"][room]["unread_notifications"] == {
        "notification_count": 2,
        "highlight_count": 1,
    }
