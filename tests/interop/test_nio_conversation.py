"""matrix-nio, a real third-party client, holds a two-user conversation: alice creates a room
and invites bob, bob joins, they exchange messages and each reads the other's through
/messages, as nio parses it."""

from __future__ import annotations

from nio import (
    AsyncClient,
    JoinedMembersResponse,
    JoinedRoomsResponse,
    JoinResponse,
    MessageDirection,
    RedactedEvent,
    RedactionEvent,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomInviteResponse,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPreset,
    RoomRedactResponse,
    RoomSendResponse,
)

from tests.helpers import HomeserverUnderTest
from tests.interop.nio_helpers import registered


async def texts(client: AsyncClient, room_id: str, limit: int = 20) -> list[tuple[str, str]]:
    """(sender, body) of the room's text messages, oldest first, as nio parses them."""
    page = await client.room_messages(room_id, direction=MessageDirection.back, limit=limit)
    assert isinstance(page, RoomMessagesResponse), page
    return [(e.sender, e.body) for e in reversed(page.chunk) if isinstance(e, RoomMessageText)]


async def test_two_user_conversation(hs: HomeserverUnderTest, nio_clients: list[AsyncClient]) -> None:
    alice = await registered(hs, nio_clients, "alice")
    bob = await registered(hs, nio_clients, "bob")

    created = await alice.room_create(name="Tea", topic="Who brings biscuits", preset=RoomPreset.private_chat)
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    invited = await alice.room_invite(room_id, bob.user_id)
    assert isinstance(invited, RoomInviteResponse), invited
    joined = await bob.join(room_id)
    assert isinstance(joined, JoinResponse), joined
    assert joined.room_id == room_id
    rooms = await bob.joined_rooms()
    assert isinstance(rooms, JoinedRoomsResponse) and rooms.rooms == [room_id]

    script = [
        (alice, "Hello Bob, tea at four?"),
        (bob, "Yes! I'll bring biscuits."),
        (alice, "Perfect, see you then."),
        (bob, "👍 see you"),
    ]
    sent: list[str] = []
    for speaker, body in script:
        response = await speaker.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        assert isinstance(response, RoomSendResponse), response
        sent.append(response.event_id)
    assert len(set(sent)) == len(sent)

    expected = [(c.user_id, body) for c, body in script]
    assert await texts(alice, room_id) == expected
    assert await texts(bob, room_id) == expected

    # Each side also sees the other's membership and the room's name through nio.
    page = await bob.room_messages(room_id, limit=50)
    assert isinstance(page, RoomMessagesResponse)
    joins = {e.state_key for e in page.chunk if isinstance(e, RoomMemberEvent) and e.membership == "join"}
    assert joins == {alice.user_id, bob.user_id}
    name = await bob.room_get_state_event(room_id, "m.room.name")
    assert isinstance(name, RoomGetStateEventResponse) and name.content == {"name": "Tea"}
    members = await alice.joined_members(room_id)
    assert isinstance(members, JoinedMembersResponse)
    assert {m.user_id for m in members.members} == {alice.user_id, bob.user_id}

    # Paging with nio's own tokens: two messages at a time, back to the first.
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        page = await alice.room_messages(room_id, start=token, limit=2)
        assert isinstance(page, RoomMessagesResponse), page
        seen += [e.body for e in page.chunk if isinstance(e, RoomMessageText)]
        if not page.end:
            break
        token = page.end
    assert seen == [body for _, body in reversed(script)]

    # bob takes his last message back; alice's nio sees it as redacted.
    redacted = await bob.room_redact(room_id, sent[-1], reason="typo")
    assert isinstance(redacted, RoomRedactResponse), redacted
    page = await alice.room_messages(room_id, limit=2)
    assert isinstance(page, RoomMessagesResponse)
    redaction, gone = page.chunk
    assert isinstance(redaction, RedactionEvent) and redaction.redacts == sent[-1], redaction
    assert isinstance(gone, RedactedEvent) and gone.event_id == sent[-1], gone
    assert gone.redacter == bob.user_id and gone.reason == "typo"
    assert await texts(alice, room_id) == expected[:-1]
