"""A real encrypted conversation: matrix-nio with its e2e extra (vodozemac) as alice and bob
in an encrypted room. Alice's nio uploads its keys, queries bob's, claims one of his
one-time keys, sends him the megolm room key over olm (to-device) and encrypts her message;
bob's nio decrypts it, and the reply goes back the same way. The server sees ciphertext only.

nio also checks what the server returns: device keys it cannot verify against their
signatures are dropped, so a query answer that broke the signed JSON would fail here."""

from __future__ import annotations

from nio import (
    AsyncClient,
    JoinResponse,
    KeysClaimResponse,
    KeysUploadResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)
from nio.store import SqliteMemoryStore

from tests.helpers import HomeserverUnderTest
from tests.interop.nio_helpers import registered as nio_registered

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
MAX_SYNCS = 6  # each a long poll that returns as soon as something arrives


async def registered(hs: HomeserverUnderTest, made: list[AsyncClient], name: str) -> AsyncClient:
    """A user with encryption on and their device keys uploaded."""
    client = await nio_registered(hs, made, name, encryption_enabled=True, store=SqliteMemoryStore)
    assert client.olm is not None, "nio's encryption did not start (is vodozemac installed?)"
    uploaded = await client.keys_upload()
    assert isinstance(uploaded, KeysUploadResponse), uploaded
    assert uploaded.signed_curve25519_count > 0
    return client


async def synced(client: AsyncClient, timeout_ms: int = 0) -> SyncResponse:
    response = await client.sync(timeout=timeout_ms)
    assert isinstance(response, SyncResponse), response
    return response


async def decrypted_texts(client: AsyncClient, room_id: str, sender: str) -> list[str]:
    """Sync (long polls) until a message of `sender` arrives in the room, decrypted by nio."""
    for _ in range(MAX_SYNCS):
        response = await synced(client, timeout_ms=10_000)
        room = response.rooms.join.get(room_id)
        events = room.timeline.events if room else []
        undecrypted = [e for e in events if isinstance(e, MegolmEvent) and e.sender == sender]
        assert not undecrypted, f"{client.user_id} could not decrypt {undecrypted}"
        texts = [e.body for e in events if isinstance(e, RoomMessageText) and e.sender == sender]
        if texts:
            return texts
    raise AssertionError(f"no message of {sender} reached {client.user_id}")


async def test_bob_decrypts_alices_message(hs: HomeserverUnderTest, nio_clients: list[AsyncClient]) -> None:
    alice = await registered(hs, nio_clients, "alice")
    bob = await registered(hs, nio_clients, "bob")
    await synced(alice)
    await synced(bob)

    created = await alice.room_create(name="Secret", invite=[bob.user_id], initial_state=[ENCRYPTION])
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    await synced(bob)
    assert isinstance(await bob.join(room_id), JoinResponse)
    await synced(alice)
    await synced(bob)
    assert alice.rooms[room_id].encrypted and bob.rooms[room_id].encrypted

    sent = await alice.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": "the biscuits are in the blue tin"},
        ignore_unverified_devices=True,
    )
    assert isinstance(sent, RoomSendResponse), sent
    assert await decrypted_texts(bob, room_id, alice.user_id) == ["the biscuits are in the blue tin"]

    reply = await bob.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "noted"}, ignore_unverified_devices=True
    )
    assert isinstance(reply, RoomSendResponse), reply
    assert await decrypted_texts(alice, room_id, bob.user_id) == ["noted"]

    # What the server keeps is ciphertext.
    raw = await hs.client(alice.access_token).get(f"/rooms/{room_id}/event/{sent.event_id}")
    assert raw["type"] == "m.room.encrypted"
    assert raw["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
    assert "biscuits" not in str(raw)


async def test_claiming_uses_one_time_keys_then_the_fallback_key(
    hs: HomeserverUnderTest, nio_clients: list[AsyncClient]
) -> None:
    """nio's own uploads (real signed keys) claimed through nio: each claim takes another
    one-time key until none is left (nio uploads no fallback key; the fallback key is tested
    in tests/clientapi/test_e2e_keys.py)."""
    alice = await registered(hs, nio_clients, "alice")
    bob = await registered(hs, nio_clients, "bob")
    assert alice.olm is not None
    count = alice.olm.uploaded_key_count or 0
    target = {alice.user_id: [alice.device_id]}
    claimed = []
    for _ in range(count):
        response = await bob.keys_claim(target)
        assert isinstance(response, KeysClaimResponse), response
        claimed.append(next(iter(response.one_time_keys[alice.user_id][alice.device_id])))
    assert len(set(claimed)) == count >= 2
    assert all(key_id.startswith("signed_curve25519:") for key_id in claimed)
    after = await bob.keys_claim(target)
    assert isinstance(after, KeysClaimResponse), after
    assert after.one_time_keys == {}
