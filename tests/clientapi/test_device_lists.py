"""Device-list tracking: which device changes are recorded (new device, rename, deletion,
logout), and /sync's `device_lists` {changed, left} from the device-list and room streams."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.appkeys import DEVICE_LISTS, NOTIFIER
from homeserver.notifier import Stream
from tests.clientapi.stream_helpers import shared_room, uid, woken_by
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


@dataclass(frozen=True)
class Mark:
    """Both stream positions at one moment: where a sync token would start."""

    device_lists: int
    rooms: int


def _mark(hs: HomeserverUnderTest) -> Mark:
    return Mark(hs.app[DEVICE_LISTS].position, hs.app[NOTIFIER].positions[Stream.ROOMS])


async def _lists(hs: HomeserverUnderTest, client: MatrixClient, since: Mark) -> tuple[list[str], list[str]]:
    now = _mark(hs)
    return await hs.app[DEVICE_LISTS].for_sync(
        uid(client), since.device_lists, now.device_lists, since.rooms, now.rooms
    )


async def test_new_device_is_seen_by_those_who_share_a_room(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    await shared_room(alice, bob)
    start = _mark(hs)
    await hs.login("bob")
    assert await _lists(hs, alice, start) == ([bob.user_id], [])
    assert await _lists(hs, bob, start) == ([bob.user_id], [])  # his other devices learn of it
    assert await _lists(hs, carol, start) == ([], [])
    assert await _lists(hs, alice, _mark(hs)) == ([], [])


async def test_rename_delete_and_logout_are_changes(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    laptop = await hs.login("bob")

    start = _mark(hs)
    await bob.put(f"/devices/{laptop.device_id}", {"display_name": "Laptop"})
    assert await _lists(hs, alice, start) == ([bob.user_id], [])

    start = _mark(hs)
    await bob.delete(f"/devices/{laptop.device_id}", {"auth": bob.password_auth()})
    assert await _lists(hs, alice, start) == ([bob.user_id], [])

    start = _mark(hs)
    await bob.post("/logout")
    assert await _lists(hs, alice, start) == ([bob.user_id], [])


async def test_login_on_a_known_device_and_failed_changes_record_nothing(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    before = hs.app[DEVICE_LISTS].position
    # The same device again (its old token goes): the device list does not change.
    bob = await hs.login("bob", device_id=bob.device_id)
    err = await bob.put("/devices/NOSUCHDEVICE", {"display_name": "x"}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    assert_error(
        await bob.put(f"/devices/{bob.device_id}", {"display_name": 5}, expect=400), "M_INVALID_PARAM"
    )
    await bob.post("/delete_devices", {"devices": ["NOSUCHDEVICE"], "auth": bob.password_auth()})
    assert hs.app[DEVICE_LISTS].position == before


async def test_password_change_with_logout_and_deactivation_are_changes(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    await hs.login("bob")
    start = _mark(hs)
    body = {"new_password": "another long password", "logout_devices": True, "auth": bob.password_auth()}
    await bob.post("/account/password", body)
    assert await _lists(hs, alice, start) == ([bob.user_id], [])

    bob.password = "another long password"
    start = _mark(hs)
    await bob.post("/account/deactivate", {"auth": bob.password_auth()})
    assert hs.app[DEVICE_LISTS].position > start.device_lists
    changed, left = await _lists(hs, alice, start)
    assert bob.user_id in changed + left  # left, should deactivation one day leave rooms


async def test_joining_a_room_makes_its_members_changed(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await shared_room(alice, bob)
    start = _mark(hs)
    await carol.post(f"/join/{room}")
    # The members see the newcomer; the newcomer sees every member.
    assert await _lists(hs, alice, start) == ([carol.user_id], [])
    assert await _lists(hs, bob, start) == ([carol.user_id], [])
    assert await _lists(hs, carol, start) == (sorted([uid(alice), uid(bob)]), [])


async def test_profile_change_of_a_member_is_no_join(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    start = _mark(hs)
    await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Bobby"})
    await alice.put(f"/profile/{alice.user_id}/displayname", {"displayname": "Ally"})
    assert await _lists(hs, alice, start) == ([], [])
    assert await _lists(hs, bob, start) == ([], [])


async def test_leave_and_rejoin_in_one_range_is_a_change(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await shared_room(alice, bob)
    start = _mark(hs)
    await bob.post(f"/rooms/{room}/leave")
    await bob.post(f"/join/{room}")
    await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Back"})
    assert await _lists(hs, alice, start) == ([bob.user_id], [])


async def test_member_who_leaves_the_only_shared_room_is_left(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await shared_room(alice, bob, carol)
    other = await shared_room(alice, carol)
    start = _mark(hs)
    await bob.post(f"/rooms/{room}/leave")
    await carol.post(f"/rooms/{room}/leave")  # carol still shares `other` with alice
    assert await _lists(hs, alice, start) == ([], [bob.user_id])
    # Bob left: those he no longer shares a room with are left for him; never himself.
    assert await _lists(hs, bob, start) == ([], sorted([uid(alice), uid(carol)]))
    assert await _lists(hs, carol, start) == ([], [bob.user_id])
    assert other


async def test_ban_is_a_leave(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await shared_room(alice, bob)
    start = _mark(hs)
    await alice.post(f"/rooms/{room}/ban", {"user_id": bob.user_id})
    assert await _lists(hs, alice, start) == ([], [bob.user_id])
    assert await _lists(hs, bob, start) == ([], [alice.user_id])


async def test_user_who_leaves_sees_former_members_left(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await shared_room(alice, bob, carol)
    await shared_room(bob, alice)
    start = _mark(hs)
    await alice.post(f"/rooms/{room}/leave")
    # Bob still shares a room with alice; carol does not.
    assert await _lists(hs, alice, start) == ([], [carol.user_id])


async def test_no_longer_sharing_hides_device_changes(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await shared_room(alice, bob)
    await bob.post(f"/rooms/{room}/leave")
    start = _mark(hs)
    await hs.login("bob")
    assert await _lists(hs, alice, start) == ([], [])


async def test_device_change_wakes_long_polls(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    assert await woken_by(hs, uid(alice), hs.login("bob"))
    assert await woken_by(hs, uid(bob), hs.login("bob"))
    assert await woken_by(hs, uid(alice), bob.put(f"/devices/{bob.device_id}", {"display_name": "Phone"}))
