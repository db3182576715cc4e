"""matrix-nio's own sync loop against /sync: an invite arrives through sync, bob joins, and
alice's messages reach bob's nio room state through incremental syncs (nio parses every
response; a malformed one would come back as a SyncError)."""

from __future__ import annotations

from nio import (
    AsyncClient,
    JoinResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from tests.helpers import HomeserverUnderTest
from tests.interop.nio_helpers import registered


async def synced(client: AsyncClient, timeout_ms: int = 0) -> SyncResponse:
    response = await client.sync(timeout=timeout_ms)
    assert isinstance(response, SyncResponse), response
    return response


async def test_nio_sync_loop_sees_invite_and_messages(
    hs: HomeserverUnderTest, nio_clients: list[AsyncClient]
) -> None:
    alice = await registered(hs, nio_clients, "alice")
    bob = await registered(hs, nio_clients, "bob")
    await synced(alice)
    await synced(bob)

    created = await alice.room_create(name="Chat", invite=[bob.user_id])
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id

    invite_sync = await synced(bob)
    assert room_id in invite_sync.rooms.invite
    assert bob.invited_rooms[room_id].name == "Chat"

    assert isinstance(await bob.join(room_id), JoinResponse)
    join_sync = await synced(bob)
    assert room_id in join_sync.rooms.join
    assert alice.user_id in bob.rooms[room_id].users

    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi bob"})
    assert isinstance(sent, RoomSendResponse), sent
    # A long-poll that the message ends: the since token nio keeps is ours, and the event is new.
    message_sync = await synced(bob, timeout_ms=10_000)
    events = message_sync.rooms.join[room_id].timeline.events
    assert [(e.sender, e.body) for e in events if isinstance(e, RoomMessageText)] == [
        (alice.user_id, "hi bob")
    ]

    # Alice's own sync echoes her transaction ID, which nio uses to match its local echo.
    own = await synced(alice)
    mine = [e for e in own.rooms.join[room_id].timeline.events if isinstance(e, RoomMessageText)]
    assert mine and mine[-1].transaction_id is not None
