"""Rate limits: 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After, and nothing done."""

from __future__ import annotations

import dataclasses

from homeserver.config import RateLimit, RateLimits, Registration
from tests.clientapi.conftest import MakeServer
from tests.clientapi.room_helpers import event_count
from tests.clientapi.util import assert_cors, assert_error, device_ids, password_hash, user_count
from tests.helpers import HomeserverUnderTest, MatrixClient

ROOMY = RateLimit(per_second=100.0, burst=1000)
TIGHT = RateLimit(per_second=0.001, burst=1)  # one request, then a wait of ~1000 s


def limits(**tight: RateLimit) -> RateLimits:
    """Every action roomy except the ones given."""
    names = [f.name for f in dataclasses.fields(RateLimits) if f.name != "enabled"]
    return RateLimits(enabled=True, **({name: ROOMY for name in names} | tight))


def assert_limited(client: MatrixClient, body: object) -> None:
    assert_error(body, "M_LIMIT_EXCEEDED")
    assert isinstance(body, dict)
    retry_ms = body["retry_after_ms"]
    assert isinstance(retry_ms, int) and 0 < retry_ms <= 1_000_000
    retry_after = client.last_response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert int(retry_after) * 1000 >= retry_ms
    assert_cors(client)


def login(user: str, password: str) -> dict[str, object]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    }


async def test_login_rate_limit(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(login=TIGHT))
    alice = await hs.register("alice")
    anon = hs.client()
    await anon.post("/login", login("alice", alice.password))
    assert_limited(anon, await anon.post("/login", login("alice", alice.password), expect=429))
    assert len(await device_ids(hs, alice.user_id)) == 2  # the refused login made no device


async def test_failed_login_rate_limit_per_user(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(failed_login=TIGHT))
    alice = await hs.register("alice")
    bob = await hs.register("bob")
    anon = hs.client()
    assert_error(await anon.post("/login", login("alice", "wrong password"), expect=403), "M_FORBIDDEN")
    # Alice's account is now locked for a while, even with the right password ...
    assert_limited(anon, await anon.post("/login", login("alice", alice.password), expect=429))
    assert await device_ids(hs, alice.user_id) == {alice.device_id}
    # ... and Bob's is not.
    await anon.post("/login", login("bob", bob.password))


async def test_successful_logins_do_not_count_as_failures(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(failed_login=TIGHT))
    alice = await hs.register("alice")
    for _ in range(3):
        await hs.client().post("/login", login("alice", alice.password))


async def test_register_rate_limit(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(register=RateLimit(per_second=0.001, burst=2)))
    await hs.register("alice")
    await hs.register("bob")
    anon = hs.client()
    body = {"username": "carol", "password": "correct horse battery", "auth": {"type": "m.login.dummy"}}
    assert_limited(anon, await anon.post("/register", body, expect=429))
    assert await user_count(hs) == 2


async def test_register_rate_limit_counts_accounts_not_handshake_steps(make_hs: MakeServer) -> None:
    """A client's sign-up is a challenge or two (401) before the registration: those take
    nothing from the limit (Element registering two users in a row got 429 otherwise)."""
    hs = await make_hs(rate_limits=limits(register=RateLimit(per_second=0.001, burst=1)))
    anon = hs.client()
    body = {"username": "alice", "password": "correct horse battery"}
    for _ in range(3):
        challenge = await anon.post("/register", body, expect=401)
        assert challenge["flows"] == [{"stages": ["m.login.dummy"]}]
    body["auth"] = {"type": "m.login.dummy", "session": challenge["session"]}
    await anon.post("/register", body)
    refused = {"username": "bob", "password": "correct horse battery"}
    assert_limited(anon, await anon.post("/register", refused, expect=429))
    assert await user_count(hs) == 1


async def test_guest_registrations_are_rate_limited(make_hs: MakeServer) -> None:
    hs = await make_hs(
        rate_limits=limits(register=TIGHT),
        registration=Registration(allow_guests=True),
    )
    anon = hs.client()
    await anon.post("/register", {}, params={"kind": "guest"})
    assert_limited(anon, await anon.post("/register", {}, params={"kind": "guest"}, expect=429))
    assert await user_count(hs) == 1


async def test_register_available_rate_limit(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(register_available=TIGHT))
    anon = hs.client()
    await anon.get("/register/available", params={"username": "alice"})
    assert_limited(anon, await anon.get("/register/available", params={"username": "bob"}, expect=429))
    path = "/_matrix/client/v1/register/m.login.registration_token/validity"
    assert_limited(anon, await anon.get(path, params={"token": "abc"}, expect=429))


async def test_failed_uia_passwords_are_rate_limited(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(failed_login=TIGHT))
    alice = await hs.register("alice")
    before = await password_hash(hs, alice.user_id)
    wrong = alice.password_auth() | {"password": "wrong password"}
    body = {"new_password": "a brand new password", "auth": wrong}
    err = await alice.post("/account/password", body, expect=401)
    assert_error(err, "M_FORBIDDEN")
    body["auth"] = alice.password_auth()
    assert_limited(alice, await alice.post("/account/password", body, expect=429))
    assert await password_hash(hs, alice.user_id) == before


async def test_rate_limits_off(hs: HomeserverUnderTest) -> None:
    assert not hs.config.rate_limits.enabled
    await hs.register("alice")
    for _ in range(5):
        await hs.client().post("/login", login("alice", "wrong password"), expect=403)
    await hs.login("alice")


async def test_event_rate_limit(make_hs: MakeServer) -> None:
    """Sends, state, redactions, new rooms and upgrades share a per-user limit (Synapse's
    rc_message); refused ones make no event, and a retried transaction is answered."""
    hs = await make_hs(rate_limits=limits(message=RateLimit(per_second=0.001, burst=3)))
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    text = {"msgtype": "m.text", "body": "hi"}
    first = await alice.put(f"/rooms/{room}/send/m.room.message/t1", text)
    await alice.put(f"/rooms/{room}/state/org.example.s", {"v": 1})
    events = await event_count(hs, room)
    refused = [
        await alice.put(f"/rooms/{room}/send/m.room.message/t2", text, expect=429),
        await alice.put(f"/rooms/{room}/state/org.example.s", {"v": 2}, expect=429),
        await alice.put(f"/rooms/{room}/redact/{first['event_id']}/r1", {}, expect=429),
        await alice.post(f"/rooms/{room}/upgrade", {"new_version": "11"}, expect=429),
        await alice.post("/createRoom", {}, expect=429),
    ]
    for body in refused:
        assert_limited(alice, body)
    assert await event_count(hs, room) == events
    assert (await alice.get("/joined_rooms"))["joined_rooms"] == [room]
    retried = await alice.put(f"/rooms/{room}/send/m.room.message/t1", text)
    assert retried["event_id"] == first["event_id"]
    await bob.post(f"/join/{room}")  # another user's limit is their own
    await bob.put(f"/rooms/{room}/send/m.room.message/b1", text)
    assert await event_count(hs, room) == events + 2
