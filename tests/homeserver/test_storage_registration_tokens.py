"""RegistrationTokenStore on SQLite and PostgreSQL; tokens are used up atomically."""

from __future__ import annotations

import asyncio

import pytest

from homeserver.errors import Forbidden, InvalidParam
from homeserver.storage.database import Database
from homeserver.storage.registration_tokens import (
    RegistrationToken,
    RegistrationTokenStore,
    consume_registration_token,
)
from homeserver.storage.users import UserStore
from tests.homeserver.storage_helpers import NOW, new_session, new_user, user_id


async def consume(db: Database, token: str, now: int = NOW) -> bool:
    async with db.transaction() as conn:
        return await consume_registration_token(conn, token, now)


async def test_create_and_get(database: Database) -> None:
    store = RegistrationTokenStore(database)
    assert await store.get("nope") is None
    await store.create("limited", 3, NOW + 1000, NOW)
    await store.create("forever", None, None, NOW)
    assert await store.get("limited") == RegistrationToken("limited", 3, 0, NOW + 1000)
    assert await store.get("forever") == RegistrationToken("forever", None, 0, None)


async def test_token_names_are_unique(database: Database) -> None:
    store = RegistrationTokenStore(database)
    await store.create("tok", 1, None, NOW)
    with pytest.raises(InvalidParam):
        await store.create("tok", 5, None, NOW)
    assert await store.get("tok") == RegistrationToken("tok", 1, 0, None)


@pytest.mark.parametrize("token", ["", "has space", "x" * 65, "üñí", "nul\x00"])
async def test_tokens_outside_the_grammar_are_refused(database: Database, token: str) -> None:
    with pytest.raises(InvalidParam):
        await RegistrationTokenStore(database).create(token, None, None, NOW)
    assert await RegistrationTokenStore(database).get(token) is None


@pytest.mark.parametrize(("uses", "expiry"), [(-1, None), (2**31, None), (None, -1), (None, 2**63)])
async def test_out_of_range_uses_or_expiry_are_refused(
    database: Database, uses: int | None, expiry: int | None
) -> None:
    with pytest.raises(InvalidParam):
        await RegistrationTokenStore(database).create("tok", uses, expiry, NOW)
    assert await RegistrationTokenStore(database).get("tok") is None


async def test_largest_uses_and_expiry_are_stored(database: Database) -> None:
    store = RegistrationTokenStore(database)
    await store.create("big", 2**31 - 1, 2**63 - 1, NOW)
    assert await store.get("big") == RegistrationToken("big", 2**31 - 1, 0, 2**63 - 1)


def test_validity() -> None:
    assert RegistrationToken("t", None, 10**6, None).valid_at(NOW)
    assert RegistrationToken("t", 2, 1, None).valid_at(NOW)
    assert not RegistrationToken("t", 2, 2, None).valid_at(NOW)
    assert RegistrationToken("t", None, 0, NOW + 1).valid_at(NOW)
    assert not RegistrationToken("t", None, 0, NOW).valid_at(NOW)


async def test_consume_counts_uses_until_exhausted(database: Database) -> None:
    store = RegistrationTokenStore(database)
    await store.create("two", 2, None, NOW)
    assert await consume(database, "two")
    assert await consume(database, "two")
    assert not await consume(database, "two")
    assert await store.get("two") == RegistrationToken("two", 2, 2, None)


async def test_unlimited_token_counts_up(database: Database) -> None:
    store = RegistrationTokenStore(database)
    await store.create("open", None, None, NOW)
    for _ in range(3):
        assert await consume(database, "open")
    token = await store.get("open")
    assert token is not None and token.completed == 3


async def test_expired_or_unknown_token_is_not_consumed(database: Database) -> None:
    store = RegistrationTokenStore(database)
    await store.create("late", None, NOW, NOW - 10)
    assert await consume(database, "late", NOW - 1)
    assert not await consume(database, "late", NOW)
    assert not await consume(database, "unknown")
    token = await store.get("late")
    assert token is not None and token.completed == 1


async def test_concurrent_consumptions_of_a_one_use_token_let_exactly_one_through(
    database: Database,
) -> None:
    store = RegistrationTokenStore(database)
    await store.create("once", 1, None, NOW)

    results = await asyncio.gather(*(consume(database, "once") for _ in range(2)))

    assert sorted(results) == [False, True]
    assert await store.get("once") == RegistrationToken("once", 1, 1, None)


async def test_concurrent_registrations_with_a_one_use_token_create_one_user(database: Database) -> None:
    store, users = RegistrationTokenStore(database), UserStore(database)
    await store.create("once", 1, None, NOW)
    names = ("alice", "bob")

    results = await asyncio.gather(
        *(
            users.create(new_user(name), new_session(user_id(name), "DEV"), registration_token="once")
            for name in names
        ),
        return_exceptions=True,
    )

    assert sum(r is None for r in results) == 1
    assert sum(isinstance(r, Forbidden) for r in results) == 1
    assert [await users.exists(user_id(name)) for name in names].count(True) == 1
    assert await users.count() == 1
    assert await store.get("once") == RegistrationToken("once", 1, 1, None)
