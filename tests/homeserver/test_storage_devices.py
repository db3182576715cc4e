"""DeviceStore on SQLite and PostgreSQL: sessions, token rows, deletion, refresh rotation."""

from __future__ import annotations

import asyncio

from homeserver.ids import DeviceID
from homeserver.storage.database import Database
from homeserver.storage.devices import DeviceStore
from homeserver.storage.tables import access_tokens, refresh_tokens
from tests.homeserver.storage_helpers import NOW, count_rows, new_session, user_id

ALICE, BOB = user_id("alice"), user_id("bob")


async def test_start_session_creates_device_and_token(database: Database) -> None:
    store = DeviceStore(database)
    session = new_session(ALICE, "PHONE", display_name="phone", expires_ts=NOW + 1000)
    await store.start_session(session)

    device = await store.get(ALICE, DeviceID("PHONE"))
    assert device is not None
    assert (device.user_id, device.device_id, device.display_name) == (ALICE, "PHONE", "phone")
    assert (device.last_seen_ts, device.last_seen_ip) == (None, None)
    assert await store.get_access_token(session.access.jti) == session.access
    assert await store.get(BOB, DeviceID("PHONE")) is None  # devices belong to their user
    assert await store.get_access_token("no-such-jti") is None


async def test_new_session_on_a_device_replaces_its_tokens(database: Database) -> None:
    store = DeviceStore(database)
    first = new_session(ALICE, "PHONE", display_name="phone", refresh_hash="1" * 64)
    await store.start_session(first)
    other = new_session(ALICE, "LAPTOP")
    await store.start_session(other)

    second = new_session(ALICE, "PHONE", refresh_hash="2" * 64)  # no display name: keep the old one
    await store.start_session(second)

    assert await store.get_access_token(first.access.jti) is None
    assert await store.get_access_token(second.access.jti) == second.access
    assert await store.refresh_token_owner("1" * 64) is None
    assert await store.refresh_token_owner("2" * 64) == (ALICE, "PHONE")
    assert await store.get_access_token(other.access.jti) == other.access
    device = await store.get(ALICE, DeviceID("PHONE"))
    assert device is not None and device.display_name == "phone"

    await store.start_session(new_session(ALICE, "PHONE", display_name="renamed"))
    device = await store.get(ALICE, DeviceID("PHONE"))
    assert device is not None and device.display_name == "renamed"
    assert await store.count(ALICE) == 2


async def test_list_count_and_rename(database: Database) -> None:
    store = DeviceStore(database)
    for device in ("ZED", "ALPHA", "MIKE"):
        await store.start_session(new_session(ALICE, device))
    await store.start_session(new_session(BOB, "BOBDEV"))

    assert [d.device_id for d in await store.list_for(ALICE)] == ["ALPHA", "MIKE", "ZED"]
    assert await store.count(ALICE) == 3
    assert await store.count(user_id("nobody")) == 0

    assert await store.set_display_name(ALICE, DeviceID("MIKE"), "mike's")
    assert not await store.set_display_name(ALICE, DeviceID("BOBDEV"), "stolen")
    assert not await store.set_display_name(ALICE, DeviceID("NOPE"), "x")
    names = {d.device_id: d.display_name for d in await store.list_for(ALICE)}
    assert names == {"ALPHA": None, "MIKE": "mike's", "ZED": None}
    bob_device = await store.get(BOB, DeviceID("BOBDEV"))
    assert bob_device is not None and bob_device.display_name is None


async def test_record_last_seen(database: Database) -> None:
    store = DeviceStore(database)
    await store.start_session(new_session(ALICE, "PHONE"))
    await store.record_last_seen(ALICE, DeviceID("PHONE"), NOW + 5, "10.0.0.1", "x" * 2000)
    device = await store.get(ALICE, DeviceID("PHONE"))
    assert device is not None
    assert (device.last_seen_ts, device.last_seen_ip) == (NOW + 5, "10.0.0.1")


async def test_deleting_devices_deletes_their_tokens_only(database: Database) -> None:
    store = DeviceStore(database)
    sessions = {
        device: new_session(ALICE, device, refresh_hash=device.ljust(64, "0"))
        for device in ("ONE", "TWO", "THREE")
    }
    for session in sessions.values():
        await store.start_session(session)
    bob = new_session(BOB, "ONE", refresh_hash="b" * 64)  # the same device ID for another user
    await store.start_session(bob)

    deleted = await store.delete(ALICE, ["ONE", "TWO", "NOT-A-DEVICE"])

    assert sorted(deleted) == ["ONE", "TWO"]
    assert [d.device_id for d in await store.list_for(ALICE)] == ["THREE"]
    assert await store.jtis_for(ALICE) == [sessions["THREE"].access.jti]
    assert await store.get_access_token(sessions["ONE"].access.jti) is None
    assert await store.refresh_token_owner("ONE".ljust(64, "0")) is None
    assert await store.refresh_token_owner("THREE".ljust(64, "0")) == (ALICE, "THREE")
    assert await store.get_access_token(bob.access.jti) == bob.access
    assert await store.refresh_token_owner("b" * 64) == (BOB, "ONE")


async def test_deleting_all_devices_of_a_user(database: Database) -> None:
    store = DeviceStore(database)
    for device in ("ONE", "TWO"):
        await store.start_session(new_session(ALICE, device, refresh_hash=device.ljust(64, "0")))
    bob = new_session(BOB, "BOBDEV")
    await store.start_session(bob)

    assert sorted(await store.delete(ALICE, None)) == ["ONE", "TWO"]

    assert await store.count(ALICE) == 0
    assert await count_rows(database, access_tokens, user_id=ALICE) == 0
    assert await count_rows(database, refresh_tokens, user_id=ALICE) == 0
    assert await store.jtis_for(BOB) == [bob.access.jti]
    assert await store.delete(ALICE, None) == []


async def test_jtis_for_and_revoke(database: Database) -> None:
    store = DeviceStore(database)
    one, two = new_session(ALICE, "ONE"), new_session(ALICE, "TWO")
    await store.start_session(one)
    await store.start_session(two)
    assert sorted(await store.jtis_for(ALICE)) == sorted([one.access.jti, two.access.jti])
    assert await store.jtis_for(ALICE, ["TWO"]) == [two.access.jti]
    assert await store.jtis_for(ALICE, []) == []

    await store.revoke_access_token(one.access.jti)

    assert await store.get_access_token(one.access.jti) is None
    assert await store.jtis_for(ALICE) == [two.access.jti]
    assert await store.get(ALICE, DeviceID("ONE")) is not None  # revoking a token keeps the device


async def test_refresh_token_rotation(database: Database) -> None:
    store = DeviceStore(database)
    first = new_session(ALICE, "PHONE", refresh_hash="1" * 64, expires_ts=NOW + 1)
    await store.start_session(first)

    second = new_session(ALICE, "PHONE", refresh_hash="2" * 64, expires_ts=NOW + 2)
    assert await store.rotate_refresh_token("1" * 64, second)

    # The old access token goes at once; the old refresh token waits for the new pair's use.
    assert await store.get_access_token(first.access.jti) is None
    issued = await store.get_access_token(second.access.jti)
    assert issued is not None and issued.refresh_parent == "1" * 64
    assert await store.refresh_token_owner("1" * 64) == (ALICE, "PHONE")
    assert await store.refresh_token_owner("2" * 64) == (ALICE, "PHONE")

    await store.first_use(issued)

    assert await store.refresh_token_owner("1" * 64) is None
    assert (await store.get_access_token(second.access.jti)) == second.access
    # The old refresh token is spent: using it again changes nothing.
    third = new_session(ALICE, "PHONE", refresh_hash="3" * 64)
    assert not await store.rotate_refresh_token("1" * 64, third)
    assert await store.get_access_token(third.access.jti) is None
    assert await store.refresh_token_owner("3" * 64) is None
    assert await store.jtis_for(ALICE) == [second.access.jti]


async def test_repeated_refresh_replaces_the_unused_pair(database: Database) -> None:
    """A client that lost the /refresh response refreshes again with the same token: the
    newest pair wins, the unused one is revoked."""
    store = DeviceStore(database)
    await store.start_session(new_session(ALICE, "PHONE", refresh_hash="1" * 64))
    lost = new_session(ALICE, "PHONE", refresh_hash="2" * 64)
    retry = new_session(ALICE, "PHONE", refresh_hash="3" * 64)
    assert await store.rotate_refresh_token("1" * 64, lost)
    assert await store.rotate_refresh_token("1" * 64, retry)

    assert await store.get_access_token(lost.access.jti) is None
    assert await store.refresh_token_owner("2" * 64) is None
    assert await store.jtis_for(ALICE) == [retry.access.jti]
    # Using the retry's refresh token revokes the original one.
    assert await store.rotate_refresh_token("3" * 64, new_session(ALICE, "PHONE", refresh_hash="4" * 64))
    assert await store.refresh_token_owner("1" * 64) is None
    assert await store.refresh_token_owner("3" * 64) == (ALICE, "PHONE")


async def test_refresh_token_of_another_device_or_user_is_not_rotated(database: Database) -> None:
    store = DeviceStore(database)
    await store.start_session(new_session(ALICE, "PHONE", refresh_hash="1" * 64))
    assert not await store.rotate_refresh_token("1" * 64, new_session(ALICE, "LAPTOP", refresh_hash="2" * 64))
    assert not await store.rotate_refresh_token("1" * 64, new_session(BOB, "PHONE", refresh_hash="3" * 64))
    assert await store.refresh_token_owner("1" * 64) == (ALICE, "PHONE")
    assert await store.get(ALICE, DeviceID("LAPTOP")) is None
    assert await store.get(BOB, DeviceID("PHONE")) is None


async def test_concurrent_uses_of_one_refresh_token_leave_one_pair(database: Database) -> None:
    store = DeviceStore(database)
    await store.start_session(new_session(ALICE, "PHONE", refresh_hash="0" * 64))
    racers = [new_session(ALICE, "PHONE", refresh_hash=str(i) * 64) for i in (1, 2)]

    won = await asyncio.gather(*(store.rotate_refresh_token("0" * 64, s) for s in racers))

    assert any(won)
    # Whatever the interleaving, the device ends with one access token and, besides the
    # original refresh token (kept until the new pair is used), one new refresh token.
    jtis = await store.jtis_for(ALICE)
    assert len(jtis) == 1
    survivor = next(r for r in racers if r.access.jti == jtis[0])
    assert await store.refresh_token_owner(survivor.refresh_token_hash or "") == (ALICE, "PHONE")
    assert await count_rows(database, refresh_tokens, user_id=ALICE) == 2
