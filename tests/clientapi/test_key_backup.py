"""Server-side key backups: versions (create, get, update, delete), keys stored and read back
for all rooms, one room and one session, the spec's rule for which copy of a session key
wins, etag and count, writes to a version that is not the current one, and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:example.org"


def session(first: int = 0, forwarded: int = 0, verified: bool = False, tag: str = "x") -> dict[str, Any]:
    return {
        "first_message_index": first,
        "forwarded_count": forwarded,
        "is_verified": verified,
        "session_data": {"ephemeral": "e", "ciphertext": f"c-{tag}", "mac": "m"},
    }


async def create(client: MatrixClient, public_key: str = "pk") -> str:
    body = {"algorithm": ALGORITHM, "auth_data": {"public_key": public_key, "signatures": {}}}
    version: str = (await client.post("/room_keys/version", body))["version"]
    return version


async def test_no_backup_is_not_found(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.get("/room_keys/version", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get("/room_keys/version/1", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get("/room_keys/keys?version=1", expect=404), "M_NOT_FOUND")
    err = await alice.put("/room_keys/keys?version=1", {"rooms": {}}, expect=404)
    assert_error(err, "M_NOT_FOUND")


async def test_keys_round_trip(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    info = await alice.get("/room_keys/version")
    assert info == {
        "algorithm": ALGORITHM,
        "auth_data": {"public_key": "pk", "signatures": {}},
        "count": 0,
        "etag": info["etag"],
        "version": version,
    }
    assert await alice.get(f"/room_keys/version/{version}") == info

    other_room = "!other:example.org"
    body = {"rooms": {ROOM: {"sessions": {"s1": session(tag="1"), "s2": session(tag="2")}}}}
    written = await alice.put(f"/room_keys/keys?version={version}", body)
    assert written["count"] == 2 and written["etag"] != info["etag"]
    room_written = await alice.put(
        f"/room_keys/keys/{other_room}?version={version}", {"sessions": {"s3": session(tag="3")}}
    )
    assert room_written["count"] == 3 and room_written["etag"] != written["etag"]
    one = await alice.put(f"/room_keys/keys/{other_room}/s4?version={version}", session(5, 1, True, "4"))
    assert one["count"] == 4

    everything = await alice.get(f"/room_keys/keys?version={version}")
    assert everything == {
        "rooms": {
            ROOM: {"sessions": {"s1": session(tag="1"), "s2": session(tag="2")}},
            other_room: {"sessions": {"s3": session(tag="3"), "s4": session(5, 1, True, "4")}},
        }
    }
    assert await alice.get(f"/room_keys/keys/{ROOM}?version={version}") == everything["rooms"][ROOM]
    assert await alice.get(f"/room_keys/keys/{ROOM}/s2?version={version}") == session(tag="2")
    assert await alice.get(f"/room_keys/keys/!empty:x?version={version}") == {"sessions": {}}
    assert_error(await alice.get(f"/room_keys/keys/{ROOM}/nope?version={version}", expect=404), "M_NOT_FOUND")
    info = await alice.get("/room_keys/version")
    assert info["count"] == 4 and info["etag"] == one["etag"]


# (stored, offered, whether the offered one is kept)
WINNERS: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    (session(verified=False), session(verified=True, first=9, forwarded=9), True),
    (session(verified=True), session(verified=False, first=0), False),
    (session(first=5), session(first=3, forwarded=9), True),
    (session(first=3), session(first=5, forwarded=0), False),
    (session(first=3, forwarded=2), session(first=3, forwarded=1), True),
    (session(first=3, forwarded=1), session(first=3, forwarded=2), False),
    (session(first=3, forwarded=1, tag="old"), session(first=3, forwarded=1, tag="new"), False),
]


@pytest.mark.parametrize(("stored", "offered", "replaced"), WINNERS)
async def test_which_copy_of_a_session_wins(
    hs: HomeserverUnderTest, stored: dict[str, Any], offered: dict[str, Any], replaced: bool
) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    offered = offered | {"session_data": {"ciphertext": "offered"}}
    first = await alice.put(f"/room_keys/keys/{ROOM}/s?version={version}", stored)
    second = await alice.put(f"/room_keys/keys/{ROOM}/s?version={version}", offered)
    kept = await alice.get(f"/room_keys/keys/{ROOM}/s?version={version}")
    assert kept == (offered if replaced else stored)
    assert second["count"] == 1
    assert (second["etag"] != first["etag"]) == replaced


async def test_only_the_current_version_takes_keys(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    old = await create(alice, "old")
    await alice.put(f"/room_keys/keys/{ROOM}/s?version={old}", session())
    new = await create(alice, "new")
    assert int(new) > int(old)
    assert (await alice.get("/room_keys/version"))["version"] == new
    err = await alice.put(f"/room_keys/keys/{ROOM}/s2?version={old}", session(), expect=403)
    assert err == {"errcode": "M_WRONG_ROOM_KEYS_VERSION", "error": err["error"], "current_version": new}
    assert (await alice.get(f"/room_keys/version/{old}"))["count"] == 1  # unchanged, still readable
    assert_error(await alice.put(f"/room_keys/keys/{ROOM}/s2", session(), expect=400), "M_MISSING_PARAM")
    err = await alice.put(f"/room_keys/keys/{ROOM}/s2?version=99", session(), expect=403)
    assert err["current_version"] == new


async def test_update_auth_data(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    new_auth = {"public_key": "pk2", "signatures": {alice.user_id: {"ed25519:D": "sig"}}}
    await alice.put(f"/room_keys/version/{version}", {"algorithm": ALGORITHM, "auth_data": new_auth})
    assert (await alice.get("/room_keys/version"))["auth_data"] == new_auth
    body = {"algorithm": ALGORITHM, "auth_data": {"public_key": "pk3"}, "version": version}
    await alice.put(f"/room_keys/version/{version}", body)

    bad = [
        ({"algorithm": "other.algorithm", "auth_data": {}}, 400, "M_INVALID_PARAM"),
        ({"algorithm": ALGORITHM, "auth_data": {}, "version": "999"}, 400, "M_INVALID_PARAM"),
        ({"algorithm": ALGORITHM}, 400, "M_MISSING_PARAM"),
        ({"algorithm": ALGORITHM, "auth_data": "x"}, 400, "M_INVALID_PARAM"),
        ({"auth_data": {}}, 400, "M_MISSING_PARAM"),
    ]
    for body, status, errcode in bad:
        assert_error(await alice.put(f"/room_keys/version/{version}", body, expect=status), errcode)
    good = {"algorithm": ALGORITHM, "auth_data": {}}
    assert_error(await alice.put("/room_keys/version/77", good, expect=404), "M_NOT_FOUND")
    assert_error(await alice.put("/room_keys/version/abc", good, expect=404), "M_NOT_FOUND")
    assert (await alice.get("/room_keys/version"))["auth_data"] == {"public_key": "pk3"}


async def test_delete_version_and_keys(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    sessions = {"a": session(tag="a"), "b": session(tag="b")}
    await alice.put(
        f"/room_keys/keys?version={version}",
        {"rooms": {ROOM: {"sessions": sessions}, "!r2:x": {"sessions": {"c": session()}}}},
    )

    gone = await alice.delete(f"/room_keys/keys/{ROOM}/a?version={version}")
    assert gone["count"] == 2
    assert list((await alice.get(f"/room_keys/keys/{ROOM}?version={version}"))["sessions"]) == ["b"]
    same = await alice.delete(f"/room_keys/keys/{ROOM}/a?version={version}")  # nothing left to delete
    assert same == gone
    room_gone = await alice.delete(f"/room_keys/keys/{ROOM}?version={version}")
    assert room_gone["count"] == 1 and room_gone["etag"] != gone["etag"]
    all_gone = await alice.delete(f"/room_keys/keys?version={version}")
    assert all_gone["count"] == 0
    assert await alice.get(f"/room_keys/keys?version={version}") == {"rooms": {}}

    await alice.put(f"/room_keys/keys/{ROOM}/z?version={version}", session())
    await alice.delete(f"/room_keys/version/{version}")
    assert_error(await alice.get("/room_keys/version", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get(f"/room_keys/version/{version}", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get(f"/room_keys/keys?version={version}", expect=404), "M_NOT_FOUND")
    await alice.delete(f"/room_keys/version/{version}")  # deleted before: still a success
    assert_error(await alice.delete("/room_keys/version/42", expect=404), "M_NOT_FOUND")
    again = await create(alice)
    assert int(again) > int(version)  # never reused
    assert (await alice.get("/room_keys/version"))["count"] == 0


async def test_backups_are_private(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    version = await create(alice)
    await alice.put(f"/room_keys/keys/{ROOM}/s?version={version}", session())
    assert_error(await bob.get("/room_keys/version", expect=404), "M_NOT_FOUND")
    assert_error(await bob.get(f"/room_keys/keys?version={version}", expect=404), "M_NOT_FOUND")
    assert_error(await bob.delete(f"/room_keys/version/{version}", expect=404), "M_NOT_FOUND")
    assert (await alice.get("/room_keys/version"))["count"] == 1


BAD_SESSIONS: list[tuple[str, Any, str]] = [
    ("not an object", [1], "M_INVALID_PARAM"),
    ("negative index", session(first=-1), "M_INVALID_PARAM"),
    ("index a bool", session() | {"first_message_index": True}, "M_INVALID_PARAM"),
    ("index too big", session(first=2**60), "M_INVALID_PARAM"),
    ("forwarded a string", session() | {"forwarded_count": "1"}, "M_INVALID_PARAM"),
    ("verified not a bool", session() | {"is_verified": 1}, "M_INVALID_PARAM"),
    ("session data a string", session() | {"session_data": "x"}, "M_INVALID_PARAM"),
    ("index missing", {k: v for k, v in session().items() if k != "first_message_index"}, "M_MISSING_PARAM"),
    ("huge session data", session() | {"session_data": {"c": "x" * 20_000}}, "M_TOO_LARGE"),
]


@pytest.mark.parametrize(("case", "data", "errcode"), BAD_SESSIONS, ids=[c for c, _, _ in BAD_SESSIONS])
async def test_bad_keys_change_nothing(hs: HomeserverUnderTest, case: str, data: Any, errcode: str) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    before = await alice.get("/room_keys/version")
    status = 413 if errcode == "M_TOO_LARGE" else 400
    body = {"rooms": {ROOM: {"sessions": {"good": session(), "bad": data}}}}
    assert_error(await alice.put(f"/room_keys/keys?version={version}", body, expect=status), errcode)
    alone = errcode if isinstance(data, dict) else "M_BAD_JSON"  # the whole body is not an object
    assert_error(await alice.put(f"/room_keys/keys/{ROOM}/bad?version={version}", data, expect=status), alone)
    assert await alice.get("/room_keys/version") == before


async def test_bad_bodies_and_ids(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    for body in ({}, {"rooms": []}, {"rooms": {ROOM: []}}, {"rooms": {ROOM: {"sessions": 1}}}):
        assert_error(
            await alice.put(f"/room_keys/keys?version={version}", body, expect=400), "M_INVALID_PARAM"
        )
    long_room = "!" + "r" * 300
    err = await alice.put(f"/room_keys/keys/{long_room}/s?version={version}", session(), expect=400)
    assert_error(err, "M_INVALID_PARAM")
    for body in ({}, {"algorithm": 5, "auth_data": {}}, {"algorithm": ALGORITHM, "auth_data": []}):
        await alice.post("/room_keys/version", body, expect=400)
    huge = {"algorithm": ALGORITHM, "auth_data": {"public_key": "x" * 20_000}}
    assert_error(await alice.post("/room_keys/version", huge, expect=413), "M_TOO_LARGE")
    assert_error(await alice.get("/room_keys/version/" + "9" * 40, expect=404), "M_NOT_FOUND")
    assert (await alice.get("/room_keys/version"))["version"] == version  # nothing new was created


async def test_concurrent_uploads_of_one_session_keep_the_best(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    version = await create(alice)
    path = f"/room_keys/keys/{ROOM}/s?version={version}"
    results = await asyncio.gather(*(alice.put(path, session(first=i, tag=str(i))) for i in range(6, 0, -1)))
    assert all(r["count"] == 1 for r in results)
    assert await alice.get(path) == session(first=1, tag="1")
