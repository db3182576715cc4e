"""UiaStore on SQLite and PostgreSQL."""

from __future__ import annotations

from homeserver.storage.database import Database
from homeserver.storage.uia import UiaSession, UiaStore
from tests.homeserver.storage_helpers import NOW, user_id


def session(session_id: str, created_ts: int = NOW, user: str | None = None) -> UiaSession:
    return UiaSession(session_id, created_ts, "POST", "/_matrix/client/v3/register", user, (), None)


async def test_create_and_get(database: Database) -> None:
    store = UiaStore(database)
    assert await store.get("nope") is None
    new = UiaSession("s1", NOW, "DELETE", "/_matrix/client/v3/devices/X", user_id("alice"), ("a", "b"), "tok")
    await store.create(new)
    assert await store.get("s1") == new


async def test_mark_completed_appends_each_stage_once(database: Database) -> None:
    store = UiaStore(database)
    await store.create(session("s1"))
    await store.create(session("s2"))

    await store.mark_completed("s1", "m.login.dummy")
    await store.mark_completed("s1", "m.login.dummy")
    await store.mark_completed("s1", "m.login.registration_token", registration_token="tok")

    s1 = await store.get("s1")
    assert s1 is not None
    assert s1.completed == ("m.login.dummy", "m.login.registration_token")
    assert s1.registration_token == "tok"
    assert await store.get("s2") == session("s2")  # other sessions untouched


async def test_mark_completed_keeps_an_earlier_registration_token(database: Database) -> None:
    store = UiaStore(database)
    await store.create(session("s1"))
    await store.mark_completed("s1", "m.login.registration_token", registration_token="tok")
    await store.mark_completed("s1", "m.login.dummy")
    s1 = await store.get("s1")
    assert s1 is not None and s1.registration_token == "tok"


async def test_mark_completed_on_unknown_session_creates_nothing(database: Database) -> None:
    store = UiaStore(database)
    await store.mark_completed("ghost", "m.login.dummy")
    assert await store.get("ghost") is None


async def test_delete_and_expire(database: Database) -> None:
    store = UiaStore(database)
    await store.create(session("old1", NOW - 100))
    await store.create(session("old2", NOW - 1))
    await store.create(session("now", NOW))
    await store.create(session("new", NOW + 1))

    assert await store.delete_older_than(NOW) == 2
    assert await store.get("old1") is None and await store.get("old2") is None
    assert await store.get("now") is not None

    await store.delete("now")
    assert await store.get("now") is None
    assert await store.get("new") is not None
    await store.delete("now")  # deleting twice is harmless
    assert await store.delete_older_than(NOW) == 0
