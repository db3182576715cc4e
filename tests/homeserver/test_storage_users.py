"""UserStore on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import select

from homeserver.errors import Forbidden, UserInUse
from homeserver.ids import DeviceID
from homeserver.storage.database import Database
from homeserver.storage.devices import DeviceStore
from homeserver.storage.registration_tokens import RegistrationTokenStore
from homeserver.storage.tables import access_tokens, devices, profiles, refresh_tokens
from homeserver.storage.users import UserStore
from tests.homeserver.storage_helpers import NOW, count_rows, new_session, new_user, user_id


async def test_create_and_get(database: Database) -> None:
    users = UserStore(database)
    assert await users.get(user_id("alice")) is None
    assert not await users.exists(user_id("alice"))

    await users.create(new_user("alice", is_admin=True))

    alice = await users.get(user_id("alice"))
    assert alice is not None
    assert alice.user_id == "@alice:example.org"
    assert alice.password_hash == "argon2-hash-of-alice"
    assert alice.created_ts == NOW
    assert (alice.is_admin, alice.is_guest, alice.deactivated) == (True, False, False)
    assert await users.exists(user_id("alice"))
    assert await users.count() == 1
    profile = await database.fetch_one(select(profiles).where(profiles.c.user_id == alice.user_id))
    assert profile is not None and profile.displayname == "alice"


async def test_create_with_session_creates_device_and_tokens(database: Database) -> None:
    users = UserStore(database)
    session = new_session(user_id("alice"), "PHONE", display_name="phone", refresh_hash="r" * 64)
    await users.create(new_user("alice"), session)

    device = await DeviceStore(database).get(user_id("alice"), DeviceID("PHONE"))
    assert device is not None and device.display_name == "phone"
    token = await DeviceStore(database).get_access_token(session.access.jti)
    assert token == session.access
    assert await DeviceStore(database).refresh_token_owner("r" * 64) == (user_id("alice"), "PHONE")


async def test_duplicate_user_is_refused_and_the_first_is_untouched(database: Database) -> None:
    users = UserStore(database)
    await users.create(new_user("alice"))
    imposter = replace(new_user("alice"), password_hash="other-hash", displayname="imposter")
    with pytest.raises(UserInUse):
        await users.create(imposter, new_session(imposter.user_id, "IMPOSTER"))
    alice = await users.get(user_id("alice"))
    assert alice is not None and alice.password_hash == "argon2-hash-of-alice"
    assert await count_rows(database, devices) == 0  # the failed creation left no device behind
    assert await count_rows(database, access_tokens) == 0
    assert await users.count() == 1


async def test_concurrent_creation_of_one_user_id_lets_exactly_one_win(database: Database) -> None:
    users = UserStore(database)
    results = await asyncio.gather(
        users.create(new_user("alice"), new_session(user_id("alice"), "ONE")),
        users.create(new_user("alice"), new_session(user_id("alice"), "TWO")),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "UserInUse"]
    assert await users.count() == 1
    assert await count_rows(database, devices) == 1
    assert await count_rows(database, access_tokens) == 1


async def test_create_with_exhausted_registration_token_creates_nothing(database: Database) -> None:
    users = UserStore(database)
    tokens = RegistrationTokenStore(database)
    await tokens.create("once", 1, None, NOW)
    await users.create(new_user("alice"), registration_token="once")
    with pytest.raises(Forbidden):
        await users.create(new_user("bob"), new_session(user_id("bob"), "BOB"), registration_token="once")
    assert await users.get(user_id("bob")) is None
    assert await count_rows(database, profiles, user_id=user_id("bob")) == 0
    assert await count_rows(database, devices, user_id=user_id("bob")) == 0
    token = await tokens.get("once")
    assert token is not None and token.completed == 1


async def test_password_change_without_logout_keeps_devices(database: Database) -> None:
    users, device_store = UserStore(database), DeviceStore(database)
    alice = user_id("alice")
    await users.create(new_user("alice"), new_session(alice, "ONE"))
    await device_store.start_session(new_session(alice, "TWO"))

    deleted = await users.set_password_hash(alice, "new-hash", logout_except=DeviceID("ONE"), logout=False)

    assert deleted == []
    user = await users.get(alice)
    assert user is not None and user.password_hash == "new-hash"
    assert [d.device_id for d in await device_store.list_for(alice)] == ["ONE", "TWO"]


async def test_password_change_with_logout_deletes_other_devices_and_their_tokens(database: Database) -> None:
    users, device_store = UserStore(database), DeviceStore(database)
    alice, bob = user_id("alice"), user_id("bob")
    keep = new_session(alice, "KEEP", refresh_hash="k" * 64)
    await users.create(new_user("alice"), keep)
    for device in ("GONE1", "GONE2"):
        await device_store.start_session(new_session(alice, device, refresh_hash=device.ljust(64, "x")))
    await users.create(new_user("bob"), new_session(bob, "GONE1"))  # same device ID, other user

    deleted = await users.set_password_hash(alice, "new-hash", logout_except=DeviceID("KEEP"), logout=True)

    assert sorted(deleted) == ["GONE1", "GONE2"]
    assert [d.device_id for d in await device_store.list_for(alice)] == ["KEEP"]
    assert await device_store.jtis_for(alice) == [keep.access.jti]
    assert await count_rows(database, refresh_tokens, user_id=alice) == 1
    assert [d.device_id for d in await device_store.list_for(bob)] == ["GONE1"]
    assert len(await device_store.jtis_for(bob)) == 1


async def test_deactivate_forgets_password_profile_devices_and_tokens(database: Database) -> None:
    users, device_store = UserStore(database), DeviceStore(database)
    alice = user_id("alice")
    await users.create(new_user("alice"), new_session(alice, "ONE", refresh_hash="a" * 64))
    await device_store.start_session(new_session(alice, "TWO"))
    await users.create(new_user("bob"), new_session(user_id("bob"), "BOB"))

    deleted = await users.deactivate(alice)

    assert sorted(deleted) == ["ONE", "TWO"]
    user = await users.get(alice)
    assert user is not None and user.deactivated and user.password_hash is None
    profile = await database.fetch_one(select(profiles).where(profiles.c.user_id == alice))
    assert profile is not None and profile.displayname is None
    assert await device_store.count(alice) == 0
    assert await device_store.jtis_for(alice) == []
    assert await count_rows(database, refresh_tokens, user_id=alice) == 0
    assert await device_store.count(user_id("bob")) == 1
    assert await users.exists(alice)  # the user ID stays taken


async def test_set_admin(database: Database) -> None:
    users = UserStore(database)
    await users.create(new_user("alice"))
    await users.set_admin(user_id("alice"), True)
    alice = await users.get(user_id("alice"))
    assert alice is not None and alice.is_admin
    await users.set_admin(user_id("alice"), False)
    alice = await users.get(user_id("alice"))
    assert alice is not None and not alice.is_admin


async def test_guest_user(database: Database) -> None:
    users = UserStore(database)
    guest = replace(new_user("12345", is_guest=True), password_hash=None, displayname=None)
    await users.create(guest)
    stored = await users.get(guest.user_id)
    assert stored is not None and stored.is_guest and stored.password_hash is None
