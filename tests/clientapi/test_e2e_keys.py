"""End-to-end encryption keys: POST /keys/upload, /keys/query and /keys/claim round trips,
claims consuming one-time keys and falling back, bad input changing nothing, keys deleted
with their device, device-list changes on upload, and GET /room_keys/version."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE, DEVICE_LISTS, E2E_KEYS, NOTIFIER
from homeserver.e2e_upload import MAX_KEYS
from homeserver.ids import DeviceID
from homeserver.notifier import Stream
from homeserver.storage.tables import e2e_device_keys, e2e_fallback_keys, e2e_one_time_keys
from tests.clientapi.e2e_helpers import Device
from tests.clientapi.stream_helpers import shared_room, uid
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

NO_CROSS_SIGNING = {"master_keys": {}, "self_signing_keys": {}, "user_signing_keys": {}}


async def _stored(hs: HomeserverUnderTest) -> tuple[int, int, int]:
    db = hs.app[DATABASE]
    counts = []
    for table in (e2e_device_keys, e2e_one_time_keys, e2e_fallback_keys):
        counts.append(int(await db.fetch_value(select(func.count()).select_from(table))))
    return counts[0], counts[1], counts[2]


async def _claim(client: MatrixClient, target: MatrixClient, algorithm: str = "signed_curve25519") -> Any:
    body = {"one_time_keys": {target.user_id: {target.device_id: algorithm}}}
    return await client.post("/keys/claim", body)


async def test_upload_query_claim_round_trip(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    dev = Device(alice)
    await alice.put(f"/devices/{alice.device_id}", {"display_name": "Alice's phone"})
    upload = {
        "device_keys": dev.device_keys(),
        "one_time_keys": {"signed_curve25519:AAAA": dev.otk("AAAA"), "curve25519:BBBB": "plain"},
        "fallback_keys": {"signed_curve25519:FFFF": dev.otk("FFFF", fallback=True)},
    }
    result = await alice.post("/keys/upload", upload)
    assert result == {"one_time_key_counts": {"signed_curve25519": 1, "curve25519": 1}}
    assert await hs.app[E2E_KEYS].counts(uid(alice), DeviceID(alice.device_id or "")) == (
        {"signed_curve25519": 1, "curve25519": 1},
        ["signed_curve25519"],
    )

    queried = await bob.post("/keys/query", {"device_keys": {alice.user_id: []}})
    expected = dev.device_keys() | {"unsigned": {"device_display_name": "Alice's phone"}}
    assert (
        queried
        == {"device_keys": {alice.user_id: {alice.device_id: expected}}, "failures": {}} | NO_CROSS_SIGNING
    )
    by_id = await bob.post("/keys/query", {"device_keys": {alice.user_id: [alice.device_id, "NOPE"]}})
    assert by_id["device_keys"] == {alice.user_id: {alice.device_id: expected}}
    # Users without keys, unknown users and other servers' users (federation later).
    empty = await bob.post(
        "/keys/query",
        {
            "device_keys": {
                bob.user_id: [],
                "@nobody:" + hs.config.server_name: [],
                "@x:elsewhere.example": [],
            }
        },
    )
    assert empty["device_keys"] == {bob.user_id: {}, "@nobody:" + hs.config.server_name: {}}

    claimed = await _claim(bob, alice)
    assert claimed == {
        "one_time_keys": {alice.user_id: {alice.device_id: {"signed_curve25519:AAAA": dev.otk("AAAA")}}},
        "failures": {},
    }
    plain = await _claim(bob, alice, "curve25519")
    assert plain["one_time_keys"] == {alice.user_id: {alice.device_id: {"curve25519:BBBB": "plain"}}}


async def test_claims_take_each_key_once_then_the_fallback_key(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    dev = Device(alice)
    await dev.upload()
    one_time = {f"signed_curve25519:K{i}": dev.otk(f"K{i}") for i in range(2)}
    fallback = {"signed_curve25519:FB": dev.otk("FB")}
    await alice.post("/keys/upload", {"one_time_keys": one_time, "fallback_keys": fallback})

    first, second = (await _claim(bob, alice), await _claim(bob, alice))
    got = [next(iter(c["one_time_keys"][alice.user_id][alice.device_id])) for c in (first, second)]
    assert sorted(got) == ["signed_curve25519:K0", "signed_curve25519:K1"]
    counts = await hs.app[E2E_KEYS].counts(uid(alice), DeviceID(alice.device_id or ""))
    assert counts == ({"signed_curve25519": 0}, ["signed_curve25519"])

    for _ in range(2):  # the fallback key is handed out again and again
        again = await _claim(bob, alice)
        assert again["one_time_keys"] == {alice.user_id: {alice.device_id: fallback}}
    counts = await hs.app[E2E_KEYS].counts(uid(alice), DeviceID(alice.device_id or ""))
    assert counts == ({"signed_curve25519": 0}, [])  # used

    # The same fallback key again stays used; a new one is unused.
    await alice.post("/keys/upload", {"fallback_keys": fallback})
    assert (await hs.app[E2E_KEYS].counts(uid(alice), DeviceID(alice.device_id or "")))[1] == []
    await alice.post("/keys/upload", {"fallback_keys": {"signed_curve25519:FB2": dev.otk("FB2")}})
    assert (await hs.app[E2E_KEYS].counts(uid(alice), DeviceID(alice.device_id or "")))[1] == [
        "signed_curve25519"
    ]

    # Nothing to claim of another algorithm, device or user.
    nothing = await bob.post(
        "/keys/claim",
        {"one_time_keys": {alice.user_id: {alice.device_id: "other", "NODEVICE": "signed_curve25519"}}},
    )
    assert nothing == {"one_time_keys": {}, "failures": {}}


async def test_repeated_keys_are_ignored_and_identical_device_keys_accepted(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    dev = Device(alice)
    body = {"device_keys": dev.device_keys(), "one_time_keys": {"signed_curve25519:A": dev.otk("A")}}
    await alice.post("/keys/upload", body)
    again = await alice.post("/keys/upload", body)
    assert again == {"one_time_key_counts": {"signed_curve25519": 1}}
    assert await _stored(hs) == (1, 1, 0)
    assert await alice.post("/keys/upload", {}) == {"one_time_key_counts": {"signed_curve25519": 1}}


BAD_UPLOADS: list[tuple[str, Any, str]] = [
    ("wrong user", lambda d: {"device_keys": d.device_keys(user_id="@mallory:x")}, "M_INVALID_PARAM"),
    ("wrong device", lambda d: {"device_keys": d.device_keys(device_id="OTHER")}, "M_INVALID_PARAM"),
    ("device keys not an object", lambda d: {"device_keys": [1]}, "M_INVALID_PARAM"),
    ("algorithms not a list", lambda d: {"device_keys": d.device_keys(algorithms="x")}, "M_INVALID_PARAM"),
    ("keys not strings", lambda d: {"device_keys": d.device_keys(keys={"ed25519:D": 1})}, "M_INVALID_PARAM"),
    ("signatures missing", lambda d: {"device_keys": d.device_keys(unsigned=True)}, "M_INVALID_PARAM"),
    (
        "no ed25519 key",
        lambda d: {"device_keys": d.device_keys(keys={"curve25519:X": "k"})},
        "M_INVALID_PARAM",
    ),
    ("one-time keys a list", lambda d: {"one_time_keys": ["x"]}, "M_INVALID_PARAM"),
    ("key ID without algorithm", lambda d: {"one_time_keys": {"AAAA": "k"}}, "M_INVALID_PARAM"),
    ("empty key ID", lambda d: {"one_time_keys": {"signed_curve25519:": "k"}}, "M_INVALID_PARAM"),
    ("key a number", lambda d: {"one_time_keys": {"signed_curve25519:A": 5}}, "M_INVALID_PARAM"),
    ("NUL in key ID", lambda d: {"one_time_keys": {"signed_curve25519:A\x00": "k"}}, "M_INVALID_PARAM"),
    ("fallback keys a string", lambda d: {"fallback_keys": "x"}, "M_INVALID_PARAM"),
    ("two fallback keys", lambda d: {"fallback_keys": {"a:1": "k", "a:2": "k"}}, "M_INVALID_PARAM"),
    ("signed key without device keys", lambda d: {"one_time_keys": d.otks("A")}, "M_INVALID_PARAM"),
    ("signed key without 'key'", lambda d: {"one_time_keys": {"a:1": d.sign({})}}, "M_INVALID_PARAM"),
]


@pytest.mark.parametrize(("case", "make", "errcode"), BAD_UPLOADS, ids=[c for c, _, _ in BAD_UPLOADS])
async def test_bad_upload_changes_nothing(
    hs: HomeserverUnderTest, case: str, make: Any, errcode: str
) -> None:
    alice = await hs.register("alice")
    position = hs.app[DEVICE_LISTS].position
    # Good keys alongside the bad part: none of them may be stored.
    body = {"one_time_keys": {"signed_curve25519:GOOD": "k"}, "fallback_keys": {"x:1": "k"}} | make(
        Device(alice)
    )
    assert_error(await alice.post("/keys/upload", body, expect=400), errcode)
    assert await _stored(hs) == (0, 0, 0)
    assert hs.app[DEVICE_LISTS].position == position


async def test_conflicting_keys_are_refused_and_change_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    dev = Device(alice)
    await dev.upload(one_time_keys=dev.otks("A"))
    impostor = Device(alice)  # the same device ID with another ed25519 key
    err = await impostor.upload(one_time_keys={"signed_curve25519:NEW": "k"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.post(
        "/keys/upload",
        {"one_time_keys": {"signed_curve25519:NEW": "k", "signed_curve25519:A": dev.otk("changed")}},
        expect=400,
    )
    assert_error(err, "M_INVALID_PARAM")
    assert await _stored(hs) == (1, 1, 0)
    queried = await alice.post("/keys/query", {"device_keys": {alice.user_id: []}})
    assert queried["device_keys"][alice.user_id][alice.device_id]["keys"] == dev.device_keys()["keys"]


async def test_device_keys_may_change_but_keep_their_ed25519_key(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    dev = Device(alice)
    await dev.upload()
    lists = hs.app[DEVICE_LISTS]
    since = lists.position
    await dev.upload(device_keys=dev.device_keys(algorithms=["m.megolm.v1.aes-sha2"]))
    assert lists.position > since  # a change others must fetch
    queried = await bob.post("/keys/query", {"device_keys": {alice.user_id: []}})
    assert queried["device_keys"][alice.user_id][alice.device_id]["algorithms"] == ["m.megolm.v1.aes-sha2"]


async def test_too_many_keys_are_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    keys = {f"signed_curve25519:K{i}": "k" for i in range(MAX_KEYS + 1)}
    assert_error(await alice.post("/keys/upload", {"one_time_keys": keys}, expect=413), "M_TOO_LARGE")
    assert await _stored(hs) == (0, 0, 0)


BAD_QUERIES: list[Any] = [
    {"device_keys": []},
    {"device_keys": {"not-a-user": []}},
    {"device_keys": {"@a:b": "DEVICE"}},
    {"device_keys": {"@a:b": [1]}},
]
BAD_CLAIMS: list[Any] = [
    {"one_time_keys": []},
    {"one_time_keys": {"not-a-user": {}}},
    {"one_time_keys": {"@a:b": ["D"]}},
    {"one_time_keys": {"@a:b": {"D": 5}}},
    {"one_time_keys": {"@a:b": {"D": ""}}},
]


async def test_bad_query_and_claim_bodies(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await alice.post("/keys/upload", {"one_time_keys": {"signed_curve25519:A": "k"}})
    assert_error(await bob.post("/keys/query", {}, expect=400), "M_MISSING_PARAM")
    assert_error(await bob.post("/keys/claim", {}, expect=400), "M_MISSING_PARAM")
    for body in BAD_QUERIES:
        assert_error(await bob.post("/keys/query", body, expect=400), "M_INVALID_PARAM")
    for body in BAD_CLAIMS:
        assert_error(await bob.post("/keys/claim", body, expect=400), "M_INVALID_PARAM")
    # A bad claim next to a good one takes nothing.
    bad = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}, "@a:b": {"D": 5}}}
    assert_error(await bob.post("/keys/claim", bad, expect=400), "M_INVALID_PARAM")
    assert await _stored(hs) == (0, 1, 0)
    nobody = await bob.post("/keys/query", {"device_keys": {}})
    assert nobody == {"device_keys": {}, "failures": {}} | NO_CROSS_SIGNING


async def test_deleting_a_device_deletes_its_keys(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    for client in (alice, laptop):
        await client.post(
            "/keys/upload",
            {
                "device_keys": Device(client).device_keys(),
                "one_time_keys": {"signed_curve25519:A": "k"},
                "fallback_keys": {"signed_curve25519:F": "f"},
            },
        )
    assert await _stored(hs) == (2, 2, 2)
    await alice.delete(f"/devices/{laptop.device_id}", {"auth": alice.password_auth()})
    assert await _stored(hs) == (1, 1, 1)
    queried = await alice.post("/keys/query", {"device_keys": {alice.user_id: []}})
    assert list(queried["device_keys"][alice.user_id]) == [alice.device_id]


async def test_uploading_device_keys_is_a_device_list_change(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    lists = hs.app[DEVICE_LISTS]
    since, rooms = lists.position, hs.app[NOTIFIER].positions[Stream.ROOMS]
    dev = Device(alice)
    await alice.post("/keys/upload", {"device_keys": dev.device_keys()})
    assert lists.position > since
    now = hs.app[NOTIFIER].positions[Stream.ROOMS]
    assert await lists.for_sync(uid(bob), since, lists.position, rooms, now) == ([alice.user_id], [])
    # The same keys again, or one-time keys only, are no change.
    since = lists.position
    await alice.post("/keys/upload", {"device_keys": dev.device_keys()})
    await alice.post("/keys/upload", {"one_time_keys": {"signed_curve25519:A": "k"}})
    assert lists.position == since


async def test_no_key_backup_yet(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    err = await alice.get("/room_keys/version", expect=404)
    assert_error(err, "M_NOT_FOUND")


async def test_concurrent_first_uploads_of_one_device(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    device = Device(alice)
    keys = device.device_keys()
    results = await asyncio.gather(*(alice.post("/keys/upload", {"device_keys": keys}) for _ in range(5)))
    assert all(r == {"one_time_key_counts": {"signed_curve25519": 0}} for r in results)
    assert await _stored(hs) == (1, 0, 0)
