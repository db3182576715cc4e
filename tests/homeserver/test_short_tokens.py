"""ShortLivedTokens: OpenID and login tokens kept in the database as hashes, with a lifetime,
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from homeserver.ids import UserID
from homeserver.short_tokens import ShortLivedTokens
from homeserver.storage.database import Database
from homeserver.storage.short_tokens import ShortTokenStore
from homeserver.storage.tables import short_lived_tokens

ALICE, BOB = UserID("@alice:hs"), UserID("@bob:hs")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_000_000]
    monkeypatch.setattr("homeserver.short_tokens.now_ms", lambda: now[0])
    return now


def tokens_of(database: Database, kind: str = "t", max_per_user: int = 100) -> ShortLivedTokens:
    return ShortLivedTokens(ShortTokenStore(database, kind), "t_", 1000, max_per_user)


async def rows(database: Database) -> int:
    return int(await database.fetch_value(select(func.count()).select_from(short_lived_tokens)))


async def test_owner_until_expiry(database: Database, clock: list[int]) -> None:
    tokens = tokens_of(database)
    issued = await tokens.issue(ALICE)
    assert issued.token.startswith("t_") and issued.expires_in_ms == 1000
    assert await tokens.owner(issued.token) == ALICE
    assert await tokens.owner(issued.token) == ALICE  # not used up by looking
    clock[0] += 999
    assert await tokens.owner(issued.token) == ALICE
    clock[0] += 1
    assert await tokens.owner(issued.token) is None


async def test_only_the_hash_is_stored(database: Database, clock: list[int]) -> None:
    token = (await tokens_of(database).issue(ALICE)).token
    kept = await database.fetch_all(select(short_lived_tokens))
    assert [(r.token_hash, r.user_id) for r in kept] == [(hashlib.sha256(token.encode()).hexdigest(), ALICE)]


async def test_consume_once(database: Database, clock: list[int]) -> None:
    tokens = tokens_of(database)
    token = (await tokens.issue(ALICE)).token
    claim = await tokens.consume(token)
    assert claim is not None and claim.grant.user_id == ALICE
    assert await tokens.consume(token) is None
    await tokens.restore(claim)
    assert await tokens.owner(token) == ALICE
    clock[0] += 1000
    assert await tokens.consume(token) is None


async def test_restore_after_expiry_keeps_it_gone(database: Database, clock: list[int]) -> None:
    tokens = tokens_of(database)
    token = (await tokens.issue(ALICE)).token
    claim = await tokens.consume(token)
    assert claim is not None
    clock[0] += 1000
    await tokens.restore(claim)
    assert await rows(database) == 0 and await tokens.owner(token) is None


async def test_kinds_are_apart(database: Database, clock: list[int]) -> None:
    openid, login = tokens_of(database, "openid"), tokens_of(database, "login")
    token = (await openid.issue(ALICE)).token
    assert await login.owner(token) is None and await login.consume(token) is None
    assert await openid.owner(token) == ALICE


async def test_unknown_and_implausible_tokens(database: Database, clock: list[int]) -> None:
    tokens = tokens_of(database)
    await tokens.issue(ALICE)
    for token in ("", "t_nope", "x" * 10_000, "\ud800", "a\x00"):
        assert await tokens.owner(token) is None
        assert await tokens.consume(token) is None
    assert await rows(database) == 1


async def test_expired_tokens_are_deleted_as_new_ones_come(database: Database, clock: list[int]) -> None:
    tokens = tokens_of(database)
    for _ in range(5):
        await tokens.issue(ALICE)
    await tokens_of(database, "other").issue(ALICE)
    clock[0] += 1000
    await tokens.issue(BOB)
    assert await rows(database) == 1


async def test_a_user_keeps_only_the_newest_tokens(database: Database, clock: list[int]) -> None:
    tokens = tokens_of(database, max_per_user=3)
    first = (await tokens.issue(ALICE)).token
    clock[0] += 1
    bobs = (await tokens.issue(BOB)).token
    rest = []
    for _ in range(3):
        clock[0] += 1
        rest.append((await tokens.issue(ALICE)).token)
    assert await rows(database) == 4
    assert await tokens.owner(first) is None
    assert [await tokens.owner(token) for token in rest] == [ALICE] * 3
    assert await tokens.owner(bobs) == BOB
