"""/versions advertises the unstable flags Element still checks for features this server has."""

from __future__ import annotations

from tests.helpers import HomeserverUnderTest


async def test_cross_signing_and_room_type_filtering_are_advertised(hs: HomeserverUnderTest) -> None:
    features = (await hs.client().get("/_matrix/client/versions"))["unstable_features"]
    # Element sets up cross-signing after login only when the first is set.
    assert features["org.matrix.e2e_cross_signing"] is True
    assert features["org.matrix.msc3827.stable"] is True


async def test_room_type_filter_that_the_flag_promises(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space = await alice.post(
        "/createRoom", {"preset": "public_chat", "creation_content": {"type": "m.space"}}
    )
    room = await alice.post("/createRoom", {"preset": "public_chat"})
    for created in (space, room):
        await alice.put(f"/directory/list/room/{created['room_id']}", {"visibility": "public"})

    def ids(body: dict[str, list[dict[str, str]]]) -> set[str]:
        return {r["room_id"] for r in body["chunk"]}

    spaces = await alice.post("/publicRooms", {"filter": {"room_types": ["m.space"]}})
    assert ids(spaces) == {space["room_id"]}
    rooms = await alice.post("/publicRooms", {"filter": {"room_types": [None]}})
    assert ids(rooms) == {room["room_id"]}
