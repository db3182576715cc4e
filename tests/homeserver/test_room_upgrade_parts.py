"""The parts of a room upgrade that need no server: what is carried over (pure functions) and
how repeated requests are answered (RecentUpgrades with a clock of the test's own)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeserver.errors import Forbidden, Unknown
from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.push.rules import user_rules_from_ruleset
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.rooms import upgrade_state as carry
from homeserver.rooms.upgrade import REMEMBER_S, RecentUpgrades
from homeserver.rooms.upgrade_members import direct_with_replacement, rules_for_replacement

ALICE, BOB = UserID("@alice:a.test"), UserID("@bob:a.test")
ROOM = RoomID("!old:a.test")


def create_event(version: str, **content: Any) -> Event:
    pdu = {"type": "m.room.create", "state_key": "", "sender": ALICE, "room_id": ROOM, "content": content}
    return Event(EventID("$create"), KNOWN_ROOM_VERSIONS[version], pdu)


def test_canonical_alias_moves_local_aliases_only() -> None:
    content = {
        "alias": "#main:a.test",
        "alt_aliases": ["#other:a.test", "#far:b.test", 5],
        "extra": "kept",
    }
    new, old = carry.split_canonical_alias(content, lambda alias: alias.endswith(":a.test"))
    assert new == {"alias": "#main:a.test", "alt_aliases": ["#other:a.test"]}
    assert old == {"alt_aliases": ["#far:b.test", 5], "extra": "kept"}
    new, old = carry.split_canonical_alias({"alias": "#far:b.test"}, lambda alias: False)
    assert (new, old) == ({}, {"alias": "#far:b.test"})


def test_power_levels_are_normalised_for_any_new_version() -> None:
    content = {
        "ban": "60",
        "kick": 1.5,  # only room versions before 6 have floats
        "events": {"m.room.name": "70", "bad": "x"},
        "users": {ALICE: "100", "not a user": 5, BOB: 2**60},
        "notifications": "not an object",
        "custom": {"kept": True},
    }
    out = carry.normalised_power_levels(content, KNOWN_ROOM_VERSIONS["5"])
    assert out == {
        "ban": 60,
        "kick": 1,
        "events": {"m.room.name": 70},
        "users": {ALICE: 100, BOB: 2**53 - 1},
        "custom": {"kept": True},
    }


def test_restricted_levels_only_when_needed() -> None:
    assert carry.restricted_power_levels({"users_default": 10}) == {
        "users_default": 10,
        "events_default": 50,
        "invite": 50,
    }
    assert carry.restricted_power_levels({"events_default": 60, "invite": 50}) is None


def test_creation_content_per_version() -> None:
    old = create_event("10", creator=ALICE, type="m.space", **{"m.federate": False})
    v10 = carry.creation_content(old, KNOWN_ROOM_VERSIONS["10"], BOB, EventID("$last"), [ALICE])
    assert v10 == {
        "room_version": "10",
        "creator": BOB,
        "predecessor": {"room_id": ROOM, "event_id": "$last"},
        "type": "m.space",
        "m.federate": False,
    }
    v12 = carry.creation_content(create_event("11"), KNOWN_ROOM_VERSIONS["12"], BOB, None, [ALICE])
    assert v12 == {"room_version": "12", "predecessor": {"room_id": ROOM}, "additional_creators": [ALICE]}


async def test_repeats_share_one_run_and_others_wait_their_turn() -> None:
    now = [0.0]
    recent = RecentUpgrades(clock=lambda: now[0])
    runs = 0
    release = asyncio.Event()

    async def work() -> RoomID:
        nonlocal runs
        runs += 1
        await release.wait()
        return RoomID(f"!new{runs}:a.test")

    first = asyncio.create_task(recent.run(ROOM, ALICE, work))
    second = asyncio.create_task(recent.run(ROOM, ALICE, work))
    await asyncio.sleep(0)
    with pytest.raises(Unknown):
        await recent.run(ROOM, BOB, work)
    release.set()
    assert await first == await second == "!new1:a.test"
    now[0] = REMEMBER_S - 1
    assert await recent.run(ROOM, ALICE, work) == "!new1:a.test"
    with pytest.raises(Unknown):
        recent.check_free(ROOM, BOB)
    now[0] = REMEMBER_S + 1  # forgotten: the room may be upgraded again, by anyone
    assert await recent.run(ROOM, BOB, work) == "!new2:a.test"
    assert runs == 2


async def test_a_failed_run_is_not_remembered() -> None:
    recent = RecentUpgrades(clock=lambda: 0.0)

    async def refused() -> RoomID:
        raise Forbidden("no")

    async def works() -> RoomID:
        return RoomID("!new:a.test")

    with pytest.raises(Forbidden):
        await recent.run(ROOM, ALICE, refused)
    assert await recent.run(ROOM, BOB, works) == "!new:a.test"


async def test_the_run_goes_on_when_its_caller_goes_away() -> None:
    recent = RecentUpgrades()
    release, finished = asyncio.Event(), asyncio.Event()

    async def work() -> RoomID:
        await release.wait()
        finished.set()
        return RoomID("!new:a.test")

    caller = asyncio.create_task(recent.run(ROOM, ALICE, work))
    await asyncio.sleep(0)
    caller.cancel()
    release.set()
    await finished.wait()
    assert await recent.run(ROOM, ALICE, work) == "!new:a.test"


def test_direct_chats_list_the_replacement_next_to_the_old_room() -> None:
    new = RoomID("!new:a.test")
    content = {BOB: [ROOM, "!x:a.test"], "@carol:a.test": ["!y:a.test"], "@dan:a.test": "junk"}
    assert direct_with_replacement(content, ROOM, new) == {**content, BOB: [ROOM, "!x:a.test", new]}
    assert direct_with_replacement({BOB: [ROOM, new]}, ROOM, new) is None  # already there


def test_push_rules_naming_the_room_are_copied_for_the_replacement() -> None:
    new = RoomID("!new:a.test")
    names_room = [{"kind": "event_match", "key": "room_id", "pattern": ROOM}]
    rules = user_rules_from_ruleset(
        {
            "room": [{"rule_id": ROOM, "actions": [], "default": False, "enabled": False}],
            "override": [
                {
                    "rule_id": f"mute {ROOM}",
                    "conditions": names_room,
                    "actions": [],
                    "default": False,
                    "enabled": True,
                },
                {
                    "rule_id": "elsewhere",
                    "conditions": names_room,
                    "actions": [],
                    "default": False,
                    "enabled": True,
                },
            ],
        }
    )
    copies = rules_for_replacement(rules, ROOM, new)
    assert copies == [
        (
            "override",
            {
                "rule_id": f"mute {new}",
                "conditions": [{**names_room[0], "pattern": new}],
                "actions": [],
                "default": False,
                "enabled": True,
            },
        ),
        ("room", {"rule_id": new, "actions": [], "default": False, "enabled": False}),
    ]
