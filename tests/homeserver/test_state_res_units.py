"""State resolution, piece by piece: the definitions (conflicted state, auth difference, power
events, the two orderings), rejected and missing events, batching, the EventSource protocol."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from homeserver.events.model import Event
from homeserver.ids import EventID
from homeserver.room_versions import V1, V11, V12, RoomVersion
from homeserver.state import (
    EventSource,
    InMemoryEventSource,
    UnsupportedStateResolution,
    resolve_state,
    walk_auth_chain,
)
from homeserver.state.graph import EventCache, conflicted_sets, separate
from homeserver.state.ordering import is_power_event, mainline_order, sorted_power_events
from tests.homeserver.stateres_helpers import (
    ALICE,
    BAN,
    BOB,
    CHARLIE,
    JOIN,
    LEAVE,
    ZARA,
    EventSet,
    Graph,
    Node,
    member,
    topic,
)

TOPIC = ("m.room.topic", "")
PL = ("m.room.power_levels", "")


def eid(node_id: str) -> EventID:
    return EventID(f"${node_id}:example.com")


def test_separate_splits_unconflicted_and_conflicted() -> None:
    a, b, c = eid("A"), eid("B"), eid("C")
    one = {("k", "same"): a, ("k", "differs"): a, ("k", "only-here"): c}
    two = {("k", "same"): a, ("k", "differs"): b}
    three = {("k", "same"): a, ("k", "differs"): b, ("k", "only-here"): c}
    unconflicted, conflicted = separate([one, two, three])
    assert unconflicted == {("k", "same"): a}
    # A key missing from one state set is conflicted even if the others agree.
    assert conflicted == {("k", "differs"): {a, b}, ("k", "only-here"): {c}}


async def test_no_state_sets_and_single_state_set() -> None:
    events = EventSet(V11)
    base = events.add_base_room()
    state = events.state(*base)
    assert await resolve_state(V11, [], events.source) == {}
    assert await resolve_state(V11, [state], events.source) == state
    assert await resolve_state(V11, [state, dict(state), state], events.source) == state


async def test_state_res_v1_is_refused_with_a_typed_error() -> None:
    events = EventSet(V1)
    base = events.add_base_room()
    events.topic("TA", ALICE, auth=["CREATE", "IPOWER", "IMA"])
    state = events.state(*base)
    with pytest.raises(UnsupportedStateResolution) as info:
        await resolve_state(V1, [state, events.state(*base, "TA")], events.source)
    assert isinstance(info.value, NotImplementedError)
    assert "room version 1" in str(info.value)
    # State sets that agree need no algorithm.
    assert await resolve_state(V1, [state, dict(state)], events.source) == state


def test_power_events() -> None:
    events = EventSet(V11)
    events.add_base_room()
    kick = events.add("KICK", ALICE, "m.room.member", BOB, LEAVE)
    leave = events.add("LEAVE", BOB, "m.room.member", BOB, LEAVE)
    ban = events.add("BANC", ALICE, "m.room.member", CHARLIE, BAN)
    assert is_power_event(events.events["IPOWER"])
    assert is_power_event(events.events["IJR"])
    assert is_power_event(kick) and is_power_event(ban)
    assert not is_power_event(leave)  # leaving yourself takes nobody's power away
    assert not is_power_event(events.events["IMB"])
    assert not is_power_event(events.events["CREATE"])
    assert not is_power_event(events.add("T", ALICE, "m.room.topic", content={"topic": "x"}))


async def test_auth_difference_leaves_out_what_every_chain_holds() -> None:
    events = EventSet(V11)
    base = events.add_base_room()
    auth = ["CREATE", "IPOWER", "IJR"]
    events.add("MZ", ZARA, "m.room.member", ZARA, JOIN, auth=auth)
    events.topic("TZ", ZARA, auth=["CREATE", "IPOWER", "MZ"])
    events.topic("TA", ALICE, auth=["CREATE", "IPOWER", "IMA"])
    states = [events.state(*base, "TZ"), events.state(*base, "TA")]
    unconflicted, conflicted = separate(states)
    cache = EventCache(events.source, V11)
    sets = await conflicted_sets(cache, states, unconflicted, conflicted)
    # MZ is only behind TZ; IMA is behind both forks (and unconflicted): not in the difference.
    assert sets.auth_difference == {eid("MZ")}
    assert sets.full == {eid("TZ"), eid("TA"), eid("MZ")}


async def test_auth_difference_leaves_out_what_every_fork_cites() -> None:
    # Bob changes his profile in both forks: his join IMB is in both auth chains (and in
    # neither state), so it is not in the difference although no unconflicted event cites it.
    events = EventSet(V11)
    base = [n for n in events.add_base_room() if n != "IMB"]
    events.add(
        "MBA",
        BOB,
        "m.room.member",
        BOB,
        {**JOIN, "displayname": "a"},
        auth=["CREATE", "IPOWER", "IJR", "IMB"],
    )
    events.add(
        "MBB",
        BOB,
        "m.room.member",
        BOB,
        {**JOIN, "displayname": "b"},
        auth=["CREATE", "IPOWER", "IJR", "IMB"],
    )
    events.add("MZ", ZARA, "m.room.member", ZARA, JOIN, auth=["CREATE", "IPOWER", "IJR"])
    states = [events.state(*base, "MBA", "MZ"), events.state(*base, "MBB")]
    unconflicted, conflicted = separate(states)
    cache = EventCache(events.source, V11)
    sets = await conflicted_sets(cache, states, unconflicted, conflicted)
    assert sets.auth_difference == set()
    assert sets.full == {eid("MBA"), eid("MBB"), eid("MZ")}


async def test_power_events_pull_in_their_auth_chain_through_any_path() -> None:
    # PA (power) <- PC (not in the full set) <- JC (in it, not a power event): JC joins the
    # power events and is ordered before PA although PA is sent earlier by a stronger user.
    events = EventSet(V11)
    events.add_base_room()
    users = {ALICE: 100, CHARLIE: 100}
    events.power_levels("P1", ALICE, users, auth=["CREATE", "IMA", "IPOWER"])
    events.add("JC", CHARLIE, "m.room.member", CHARLIE, JOIN, auth=["CREATE", "P1", "IJR"], ts=100)
    events.add(
        "PC", CHARLIE, "m.room.power_levels", content={"users": users}, auth=["CREATE", "JC", "P1"], ts=50
    )
    events.add(
        "PA", ALICE, "m.room.power_levels", content={"users": users}, auth=["CREATE", "IMA", "PC"], ts=10
    )
    cache = EventCache(events.source, V11)
    await cache.fetch(eid(n) for n in ("JC", "PC", "PA"))
    ordered = await sorted_power_events(cache, {eid("PA"), eid("JC")}, {eid("PA"), eid("PC"), eid("JC")})
    assert [e.event_id for e in ordered] == [eid("JC"), eid("PA")]


async def test_reverse_topological_power_ordering_tie_breaks() -> None:
    events = EventSet(V11)
    events.add_base_room()
    users = {ALICE: 100, BOB: 50, CHARLIE: 50}
    events.power_levels("P1", ALICE, users, auth=["CREATE", "IMA", "IPOWER"])
    kick_auth = ["CREATE", "P1"]
    # Power first (Alice's late kick before Bob's early ones), then ts, then event ID.
    events.add("K3", BOB, "m.room.member", "@x3:example.com", LEAVE, auth=[*kick_auth, "IMB"], ts=5)
    events.add("K2", BOB, "m.room.member", "@x2:example.com", LEAVE, auth=[*kick_auth, "IMB"], ts=5)
    events.add("K1", BOB, "m.room.member", "@x1:example.com", LEAVE, auth=[*kick_auth, "IMB"], ts=9)
    events.add("KA", ALICE, "m.room.member", "@xa:example.com", LEAVE, auth=[*kick_auth, "IMA"], ts=50)
    # An auth descendant of K1 comes after it whatever its own key.
    events.add("KD", ALICE, "m.room.member", "@xd:example.com", LEAVE, auth=["CREATE", "IMA", "K1"], ts=0)
    full = {eid(n) for n in ("K1", "K2", "K3", "KA", "KD")}
    cache = EventCache(events.source, V11)
    await cache.fetch(full)
    ordered = await sorted_power_events(cache, full, full)
    assert [e.event_id for e in ordered] == [eid(n) for n in ("KA", "K2", "K3", "K1", "KD")]


async def test_mainline_ordering() -> None:
    events = EventSet(V11)
    events.add_base_room()
    users = {ALICE: 100}
    pl = "m.room.power_levels"
    events.add("P1", ALICE, pl, content={"users": users}, auth=["CREATE", "IMA", "IPOWER"])
    events.add("P2", ALICE, pl, content={"users": users}, auth=["CREATE", "IMA", "P1"])
    events.add("Q", ALICE, pl, content={"users": users}, auth=["CREATE", "IMA", "P1"])  # off the mainline
    events.add("E_P2", ALICE, "m.room.topic", content={}, auth=["CREATE", "IMA", "P2"], ts=1)
    events.add("E_Q", ALICE, "m.room.topic", content={}, auth=["CREATE", "IMA", "Q"], ts=3)
    events.add("E_P1", ALICE, "m.room.topic", content={}, auth=["CREATE", "IMA", "P1"], ts=2)
    events.add("E_P1b", ALICE, "m.room.topic", content={}, auth=["CREATE", "IMA", "P1"], ts=2)
    events.add("E_IP", ALICE, "m.room.topic", content={}, auth=["CREATE", "IMA", "IPOWER"], ts=9)
    events.add("E_NONE", ALICE, "m.room.topic", content={}, auth=["CREATE", "IMA"], ts=99)
    names = ["E_P2", "E_Q", "E_P1", "E_P1b", "E_IP", "E_NONE"]
    cache = EventCache(events.source, V11)
    await cache.fetch(eid(n) for n in names)
    ordered = await mainline_order(cache, [cache.events[eid(n)] for n in names], events.events["P2"])
    # No mainline power levels (infinite position) first, then the oldest mainline position;
    # Q leads to P1 (position 1) like E_P1 and E_P1b; ties by ts, then event ID.
    assert [e.event_id for e in ordered] == [
        eid(n) for n in ("E_NONE", "E_IP", "E_P1", "E_P1b", "E_Q", "E_P2")
    ]


async def test_rejected_events_are_not_applied() -> None:
    # TR would pass the auth rules (Alice may set the topic) and sorts after TA, but it was
    # rejected: it never enters the state.
    events = EventSet(V11)
    base = events.add_base_room()
    events.topic("TA", ALICE, auth=["CREATE", "IPOWER", "IMA"])
    events.topic("TR", ALICE, auth=["CREATE", "IPOWER", "IMA"], rejected_reason="x")
    resolved = await resolve_state(V11, [events.state(*base, "TR"), events.state(*base, "TA")], events.source)
    assert resolved[TOPIC] == eid("TA")
    resolved = await resolve_state(V11, [events.state(*base, "TR"), events.state(*base)], events.source)
    assert resolved == events.state(*base)


async def test_rejected_state_entry_gives_way_to_the_events_own_auth_event() -> None:
    # The unconflicted power levels entry is rejected: Bob's topic is checked against the
    # power levels event it cites (which lets him) instead of failing outright.
    events = EventSet(V11)
    base = [n for n in events.add_base_room() if n != "IPOWER"]
    pl = {ALICE: 100, BOB: 50}
    events.power_levels("P1", ALICE, pl, auth=["CREATE", "IMA", "IPOWER"])
    events.add(
        "PBAD", ALICE, "m.room.power_levels", content=pl, auth=["CREATE", "IMA", "P1"], rejected_reason="x"
    )
    events.topic("TB", BOB, auth=["CREATE", "P1", "IMB"])
    states = [events.state(*base, "PBAD", "TB"), events.state(*base, "PBAD")]
    resolved = await resolve_state(V11, states, events.source)
    assert resolved[TOPIC] == eid("TB")


async def test_state_entries_take_precedence_over_the_events_own_auth_events() -> None:
    # Bob's topic cites P1 (Bob at 50), but the state holds P2 (Bob at 0): the topic fails.
    events = EventSet(V11)
    base = [n for n in events.add_base_room() if n != "IPOWER"]
    events.add(
        "P1",
        ALICE,
        "m.room.power_levels",
        content={"users": {ALICE: 100, BOB: 50}},
        auth=["CREATE", "IMA", "IPOWER"],
    )
    events.add(
        "P2", ALICE, "m.room.power_levels", content={"users": {ALICE: 100}}, auth=["CREATE", "IMA", "P1"]
    )
    events.topic("TB", BOB, auth=["CREATE", "P1", "IMB"])
    resolved = await resolve_state(
        V11, [events.state(*base, "P2", "TB"), events.state(*base, "P2")], events.source
    )
    assert TOPIC not in resolved


async def test_unknown_conflicted_events_are_left_out() -> None:
    events = EventSet(V11)
    base = events.add_base_room()
    events.topic("TA", ALICE, auth=["CREATE", "IPOWER", "IMA"])
    ghost = {TOPIC: eid("GHOST")}
    resolved = await resolve_state(
        V11, [events.state(*base, "TA"), {**events.state(*base), **ghost}], events.source
    )
    assert resolved[TOPIC] == eid("TA")


class PlainSource(EventSource):
    """Only get_events: get_auth_chain_ids comes from the protocol's default walk."""

    def __init__(self, events: dict[EventID, Event]) -> None:
        self.events = events
        self.batches: list[int] = []

    async def get_events(self, event_ids: Collection[EventID]) -> dict[EventID, Event]:
        self.batches.append(len(event_ids))
        return {e: self.events[e] for e in event_ids if e in self.events}


async def test_default_auth_chain_walk() -> None:
    events = EventSet(V11)
    events.add_base_room()
    source = PlainSource({e.event_id: e for e in events.events.values()})
    chain = await source.get_auth_chain_ids([eid("IMB")])
    assert chain == {eid("CREATE"), eid("IMA"), eid("IPOWER"), eid("IJR")}
    # A start event is in the chain only if another start event reaches it.
    assert await walk_auth_chain(source, [eid("IMB"), eid("IJR")]) == chain
    assert await InMemoryEventSource(events.events.values()).get_auth_chain_ids([eid("IMB")]) == chain


async def fork_graph(size: int, version: RoomVersion = V11) -> Graph:
    """Two forks of `size` new members each, plus a topic and a kick in each."""
    fork_a = [member(f"A{i:03}", f"@a{i}:example.com", JOIN) for i in range(size)]
    fork_b = [member(f"B{i:03}", f"@b{i}:example.com", JOIN) for i in range(size)]
    extra_a = [topic("TA", ALICE), member("KA", ALICE, LEAVE, target=CHARLIE)]
    extra_b = [topic("TB", BOB), member("KB", ALICE, BAN, target=ZARA)]
    nodes: list[Node] = [*fork_a, *extra_a, *fork_b, *extra_b]
    chain_a = ["END", *[n.id for n in reversed(extra_a + fork_a)], "START"]
    chain_b = ["END", *[n.id for n in reversed(extra_b + fork_b)], "START"]
    return await Graph.build(version, nodes, [chain_a, chain_b])


async def test_events_are_fetched_in_batches() -> None:
    graph = await fork_graph(150)
    states = [graph.state_after["A149"], graph.state_after["B149"]]
    events = {e.event_id: e for e in graph.events.values()}
    for source in (InMemoryEventSource(events), PlainSource(events)):
        resolved = await resolve_state(V11, states, source)
        assert resolved == graph.state_before["END"]
        batches = source.get_events_calls if isinstance(source, InMemoryEventSource) else len(source.batches)
        assert batches <= 12  # 300 conflicted events, a handful of batches


@pytest.mark.parametrize("version", [V11, V12], ids=["v11", "v12"])
async def test_resolution_of_large_forks(version: RoomVersion) -> None:
    graph = await fork_graph(40, version)
    end = graph.state_after["END"]
    assert all(end[("m.room.member", f"@{f}{i}:example.com")] for f in "ab" for i in range(40))
    assert end[("m.room.member", CHARLIE)] == graph.events["KA"].event_id
    assert end[("m.room.member", ZARA)] == graph.events["KB"].event_id
    assert end[TOPIC] == graph.events["TA"].event_id  # Alice (TA) and Bob (TB, refused: PL 0)
