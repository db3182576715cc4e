"""GET /keys/changes between two /sync tokens, and key changes reaching the other user's
/sync (`device_lists.changed`): device keys, cross-signing keys, a deleted device; `left`
for a user who no longer shares a room; bad tokens."""

from __future__ import annotations

import asyncio

from tests.clientapi.e2e_helpers import CrossSigning, Device
from tests.clientapi.stream_helpers import shared_room
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def _token(client: MatrixClient) -> str:
    token: str = (await client.get("/sync", params={"timeout": "0"}))["next_batch"]
    return token


async def _changes(client: MatrixClient, since: str, until: str) -> tuple[list[str], list[str]]:
    answer = await client.get("/keys/changes", params={"from": since, "to": until})
    return answer["changed"], answer["left"]


async def test_key_uploads_are_listed_between_two_tokens(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    await shared_room(alice, bob)
    start = await _token(bob)
    await Device(alice).upload()
    after_keys = await _token(bob)
    assert await _changes(bob, start, after_keys) == ([alice.user_id], [])
    assert await _changes(carol, await _token(carol), await _token(carol)) == ([], [])
    assert await _changes(bob, after_keys, after_keys) == ([], [])

    await alice.post("/keys/device_signing/upload", CrossSigning(alice.user_id).all_keys())
    after_cross_signing = await _token(bob)
    assert await _changes(bob, after_keys, after_cross_signing) == ([alice.user_id], [])
    # carol shares no room with alice: her changes are not carol's business.
    assert await _changes(carol, start, after_cross_signing) == ([], [])


async def test_a_member_who_leaves_is_left(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room_id = await shared_room(alice, bob)
    start = await _token(alice)
    await bob.post(f"/rooms/{room_id}/leave", {})
    assert await _changes(alice, start, await _token(alice)) == ([], [bob.user_id])


async def test_a_key_upload_reaches_the_other_users_sync(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    since = await _token(bob)
    poll = asyncio.create_task(bob.get("/sync", params={"since": since, "timeout": "30000"}))
    device = Device(alice)
    await device.upload()
    response = await poll
    assert response["device_lists"]["changed"] == [alice.user_id]

    since = response["next_batch"]
    laptop = await hs.login("alice")
    await Device(laptop).upload()
    await alice.delete(f"/devices/{laptop.device_id}", {"auth": alice.password_auth()})
    later = await bob.get("/sync", params={"since": since, "timeout": "0"})
    assert later["device_lists"]["changed"] == [alice.user_id]
    queried = await bob.post("/keys/query", {"device_keys": {alice.user_id: []}})
    assert list(queried["device_keys"][alice.user_id]) == [device.device_id]


async def test_bad_tokens(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = await _token(alice)
    assert_error(await alice.get("/keys/changes", params={"to": token}, expect=400), "M_MISSING_PARAM")
    assert_error(await alice.get("/keys/changes", params={"from": token}, expect=400), "M_MISSING_PARAM")
    for bad in ("", "x", "s1_x", "s" + "9" * 300):
        err = await alice.get("/keys/changes", params={"from": bad, "to": token}, expect=400)
        assert_error(err, "M_INVALID_PARAM")
    # Positions past the present are the present: no error, nothing changed after it.
    future = "s" + "_".join(["99999999999999999999"] * 7)
    assert await _changes(alice, future, future) == ([], [])
    assert await _changes(alice, token, future) == ([], [])
