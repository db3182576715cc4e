"""Properties of state resolution over random rooms: a few forks grow from a common room with
random membership, power levels, join rules and topic changes (each event authorised against
its fork's state, as a server would), sometimes merging through `resolve_state` itself; then
the forks' states are resolved."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import homeserver.state.resolution as resolution_module
from homeserver.auth.rules import AuthError, auth_types_for_event, check_auth_rules
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import V11, V12, RoomVersion, StateResAlgorithm
from homeserver.state import InMemoryEventSource, resolve_state
from homeserver.state.graph import EventCache, conflicted_sets, separate
from homeserver.state.ordering import is_power_event, sender_power_level, sorted_power_events
from tests.homeserver.stateres_helpers import ALICE, BOB, CHARLIE, EVELYN, ZARA, StateMap, build_event

Action = tuple[int, int, int, int, int]  # fork, kind, actor, target, value
USERS = [ALICE, BOB, CHARLIE, EVELYN, ZARA]
KINDS = ["topic", "join", "leave", "kick", "ban", "invite", "power", "join_rule", "merge"]
VERSIONS = [V11, V12, replace(V11, state_res=StateResAlgorithm.V2_1)]


@dataclass
class Fork:
    state: dict[StateKey, Event]
    heads: list[str]


@dataclass
class RandomRoom:
    version: RoomVersion
    source: InMemoryEventSource = field(default_factory=InMemoryEventSource)
    events: dict[EventID, Event] = field(default_factory=dict)
    count: int = 0

    def state_ids(self, fork: Fork) -> StateMap:
        return {key: event.event_id for key, event in fork.state.items()}

    def send(
        self, fork: Fork, sender: str, type: str, state_key: str | None, content: dict[str, Any]
    ) -> bool:
        """Add the event to the fork if it passes the auth rules against the fork's state."""
        self.count += 1
        node_id = f"E{self.count:04}"
        keys = auth_types_for_event(type, sender, state_key, content, self.version)
        auth = sorted(fork.state[key].event_id[1:].split(":")[0] for key in keys if key in fork.state)
        if type == "m.room.create" and not self.version.implicit_room_creator:
            content = {**content, "creator": sender}
        event = build_event(
            self.version,
            node_id if type != "m.room.create" else "CREATE",
            sender=sender,
            type=type,
            state_key=state_key,
            content=content,
            prev=fork.heads,
            auth=auth,
            ts=self.count,
        )
        try:
            check_auth_rules(event, fork.state)
        except AuthError:
            return False
        self.source.add(event)
        self.events[event.event_id] = event
        fork.state[event.key] = event
        fork.heads = [event.event_id[1:].split(":")[0]]
        return True

    async def merge(self, fork: Fork, other: Fork) -> None:
        resolved = await resolve_state(
            self.version, [self.state_ids(fork), self.state_ids(other)], self.source
        )
        events = await self.source.get_events(list(resolved.values()))
        fork.state = {key: events[eid] for key, eid in resolved.items()}
        fork.heads = sorted(set(fork.heads) | set(other.heads))


def power_content(version: RoomVersion, users: Mapping[str, int]) -> dict[str, Any]:
    listed = {
        u: level for u, level in users.items() if not (version.creator_has_infinite_power and u == ALICE)
    }
    return {"users": listed}


async def build_room(
    version: RoomVersion, forks: int, actions: list[Action]
) -> tuple[RandomRoom, list[Fork]]:
    room = RandomRoom(version)
    base = Fork({}, [])
    room.send(base, ALICE, "m.room.create", "", {"room_version": version.identifier})
    room.send(base, ALICE, "m.room.member", ALICE, {"membership": "join"})
    room.send(base, ALICE, "m.room.power_levels", "", power_content(version, {ALICE: 100, BOB: 50}))
    room.send(base, ALICE, "m.room.join_rules", "", {"join_rule": "public"})
    for user in (BOB, CHARLIE):
        room.send(base, user, "m.room.member", user, {"membership": "join"})
    branches = [Fork(dict(base.state), list(base.heads)) for _ in range(forks)]
    for fork_no, kind_no, actor_no, target_no, value in actions:
        fork = branches[fork_no % forks]
        kind, actor, target = KINDS[kind_no], USERS[actor_no], USERS[target_no]
        if kind == "topic":
            room.send(fork, actor, "m.room.topic", "", {"topic": f"{actor} {value}"})
        elif kind == "join":
            room.send(fork, actor, "m.room.member", actor, {"membership": "join", "displayname": str(value)})
        elif kind == "leave":
            room.send(fork, actor, "m.room.member", actor, {"membership": "leave"})
        elif kind in ("kick", "ban", "invite"):
            membership = {"kick": "leave", "ban": "ban", "invite": "invite"}[kind]
            room.send(fork, actor, "m.room.member", target, {"membership": membership})
        elif kind == "power":
            current = fork.state[("m.room.power_levels", "")].content.get("users", {})
            users = {**current, target: [0, 50, 100][value % 3]}
            room.send(fork, actor, "m.room.power_levels", "", power_content(version, users))
        elif kind == "join_rule":
            room.send(fork, actor, "m.room.join_rules", "", {"join_rule": ["public", "invite"][value % 2]})
        else:
            await room.merge(fork, branches[value % forks])
    return room, branches


ACTION = st.tuples(
    st.integers(0, 2),
    st.integers(0, len(KINDS) - 1),
    st.integers(0, len(USERS) - 1),
    st.integers(0, len(USERS) - 1),
    st.integers(0, 5),
)
ROOMS = st.tuples(st.sampled_from(VERSIONS), st.integers(2, 3), st.lists(ACTION, min_size=1, max_size=30))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


@SETTINGS
@given(room=ROOMS, data=st.data())
def test_result_does_not_depend_on_the_order_of_the_state_sets(room: Any, data: st.DataObject) -> None:
    version, forks, actions = room

    async def check() -> None:
        built, branches = await build_room(version, forks, actions)
        states = [built.state_ids(b) for b in branches]
        expected = await resolve_state(version, states, built.source)
        order = data.draw(st.permutations(range(len(states))))
        shuffled = [dict(reversed(list(states[i].items()))) for i in order]
        assert await resolve_state(version, shuffled, built.source) == expected

    run(check)


@SETTINGS
@given(room=ROOMS)
def test_a_single_state_set_resolves_to_itself(room: Any) -> None:
    version, forks, actions = room

    async def check() -> None:
        built, branches = await build_room(version, forks, actions)
        for branch in branches:
            state = built.state_ids(branch)
            assert await resolve_state(version, [state], built.source) == state
            assert await resolve_state(version, [state, dict(state)], built.source) == state

    run(check)


@SETTINGS
@given(room=ROOMS)
def test_resolved_state_keeps_unconflicted_state_and_picks_from_the_full_conflicted_set(room: Any) -> None:
    version, forks, actions = room

    async def check() -> None:
        built, branches = await build_room(version, forks, actions)
        states = [built.state_ids(b) for b in branches]
        resolved = await resolve_state(version, states, built.source)
        unconflicted, conflicted = separate(states)
        sets = await conflicted_sets(EventCache(built.source, version), states, unconflicted, conflicted)
        events = await built.source.get_events(list(resolved.values()))
        for key, event_id in resolved.items():
            assert events[event_id].key == key
            if key in unconflicted:
                assert event_id == unconflicted[key]
            else:
                assert event_id in sets.full
        assert unconflicted.items() <= resolved.items()

    run(check)


@SETTINGS
@given(room=ROOMS)
def test_every_resolved_conflicted_event_passed_the_auth_rules(room: Any) -> None:
    """Every event the resolution takes from the full conflicted set was allowed by
    check_auth_rules, against auth events that are all in the room (none rejected), and is
    allowed again when re-checked against those same auth events."""
    version, forks, actions = room
    passed: dict[EventID, list[Mapping[StateKey, Event]]] = {}

    def recording_check(event: Event, auth_events: Mapping[StateKey, Event]) -> None:
        check_auth_rules(event, auth_events)
        passed.setdefault(event.event_id, []).append(dict(auth_events))

    async def check() -> None:
        built, branches = await build_room(version, forks, actions)
        states = [built.state_ids(b) for b in branches]
        passed.clear()
        with mock.patch.object(resolution_module, "check_auth_rules", recording_check):
            resolved = await resolve_state(version, states, built.source)
        unconflicted, _ = separate(states)
        for key, event_id in resolved.items():
            if key in unconflicted:
                continue
            assert event_id in passed, f"{key} -> {event_id} never passed the auth rules"
            for auth_events in passed[event_id]:
                assert all(e.rejected_reason is None for e in auth_events.values())
                check_auth_rules((await built.source.get_events([event_id]))[event_id], auth_events)

    run(check)


@pytest.mark.parametrize("version", VERSIONS, ids=["v11", "v12", "v11-with-v2.1"])
async def test_generated_rooms_have_conflicts(version: RoomVersion) -> None:
    # The generator does produce conflicting forks (or the properties above say little).
    actions: list[Action] = [
        (0, 0, 0, 0, 1),
        (1, 0, 0, 0, 2),
        (0, 4, 0, 1, 0),
        (1, 6, 0, 2, 1),
        (1, 0, 1, 0, 3),
    ]
    built, branches = await build_room(version, 2, actions)
    states = [built.state_ids(b) for b in branches]
    _, conflicted = separate(states)
    assert ("m.room.topic", "") in conflicted and ("m.room.member", BOB) in conflicted
    resolved = await resolve_state(version, states, built.source)
    # Bob is banned (a power event, applied first), so his topic in the other fork fails.
    assert resolved[("m.room.member", BOB)] == branches[0].state[("m.room.member", BOB)].event_id
    assert branches[1].state[("m.room.topic", "")].sender == BOB
    assert resolved[("m.room.topic", "")] == branches[0].state[("m.room.topic", "")].event_id


def naive_chain(events: Mapping[EventID, Event], start: Any, *, with_start: bool = False) -> set[EventID]:
    """The auth chain by the definition: everything reachable through auth_events."""
    chain: set[EventID] = set(start) if with_start else set()
    stack = list(start)
    while stack:
        event = events.get(stack.pop())
        for auth_id in event.auth_event_ids if event is not None else ():
            if auth_id not in chain:
                chain.add(auth_id)
                stack.append(auth_id)
    return chain


@SETTINGS
@given(room=ROOMS)
def test_full_conflicted_set_and_power_ordering_match_the_definitions(room: Any) -> None:
    """The walks that stop at the unconflicted state's auth chain, against the spec's
    definitions computed the slow way: auth difference, conflicted state subgraph (v2.1),
    power events with their auth chains, and the lexicographically smallest topological
    ordering of them by the auth DAG."""
    version, forks, actions = room

    async def check() -> None:
        built, branches = await build_room(version, forks, actions)
        states = [built.state_ids(b) for b in branches]
        unconflicted, conflicted = separate(states)
        if not conflicted:
            return
        events = built.events
        conflicted_ids: set[EventID] = set().union(*conflicted.values())
        chains = [naive_chain(events, s.values()) for s in states]
        difference = chains[0].union(*chains[1:]) - chains[0].intersection(*chains[1:])
        subgraph: set[EventID] = set()
        if version.state_res is StateResAlgorithm.V2_1:
            below = naive_chain(events, conflicted_ids, with_start=True)
            subgraph = {x for x in below if naive_chain(events, [x], with_start=True) & conflicted_ids}
        full = conflicted_ids | difference | subgraph

        cache = EventCache(built.source, version)
        sets = await conflicted_sets(cache, states, unconflicted, conflicted)
        assert sets.auth_difference == difference
        assert sets.full == full

        power = {e for e in full if is_power_event(events[e])}
        selected = power | (naive_chain(events, power) & full)
        ordered = [e.event_id for e in await sorted_power_events(cache, sets.full, sets.region)]
        assert ordered == smallest_topological_order(cache, events, selected)

    run(check)


def smallest_topological_order(
    cache: EventCache, events: Mapping[EventID, Event], ids: set[EventID]
) -> list[EventID]:
    """Repeatedly take the smallest event whose ancestors (in `ids`) are all taken."""
    ancestors = {x: naive_chain(events, [x]) & ids for x in ids}
    taken: list[EventID] = []
    left = set(ids)
    while left:
        ready = [x for x in left if ancestors[x] <= set(taken)]
        best = min(
            ready, key=lambda x: (-sender_power_level(cache, events[x]), events[x].origin_server_ts, x)
        )
        taken.append(best)
        left.remove(best)
    return taken
