"""State resolution v2 / v2.1: the classic scenarios (after the descriptions in Synapse's
tests/state/test_v2.py), run through the DAG harness in stateres_helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from homeserver.room_versions import KNOWN_ROOM_VERSIONS, V11, V12, RoomVersion, StateResAlgorithm
from homeserver.state import resolve_state
from homeserver.state.graph import EventCache, conflicted_sets, separate
from tests.homeserver.stateres_helpers import (
    ALICE,
    BAN,
    BOB,
    CHARLIE,
    EVELYN,
    JOIN,
    ZARA,
    EventSet,
    Graph,
    Node,
    StateMap,
    member,
    power_levels,
    topic,
)

V2_VERSIONS = [v for v in KNOWN_ROOM_VERSIONS.values() if v.state_res is StateResAlgorithm.V2]
V2_1_VERSIONS = [v for v in KNOWN_ROOM_VERSIONS.values() if v.state_res is StateResAlgorithm.V2_1]
ALL_VERSIONS = V2_VERSIONS + V2_1_VERSIONS


def ids(version: RoomVersion) -> str:
    return f"v{version.identifier}"


class Scenario:
    def __init__(
        self, nodes: Sequence[Node], edges: Sequence[Sequence[str]], expected: Sequence[str]
    ) -> None:
        self.nodes, self.edges, self.expected = nodes, edges, expected


SCENARIOS = {
    # Bob (PL 50) changes power levels while Alice bans him in the other fork: the ban wins,
    # so Bob's power levels event no longer passes.
    "ban_vs_pl": Scenario(
        nodes=[
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            member("MA", ALICE, JOIN),
            member("MB", ALICE, BAN, target=BOB),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
        ],
        edges=[["END", "MB", "MA", "PA", "START"], ["END", "PB", "PA"]],
        expected=["PA", "MA", "MB"],
    ),
    # Bob's topic (sent while he had PL 50) is dropped once he is banned; the topic falls back
    # to Alice's earlier one.
    "topic_reset": Scenario(
        nodes=[
            topic("T1", ALICE),
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", BOB),
            member("MB", ALICE, BAN, target=BOB),
        ],
        edges=[["END", "MB", "T2", "PA", "T1", "START"], ["END", "T1"]],
        expected=["T1", "MB", "PA"],
    ),
    # Evelyn joins in one fork while the room goes private in the other: the join fails.
    "join_rule_evasion": Scenario(
        nodes=[
            Node("JR", ALICE, "m.room.join_rules", "", {"join_rule": "private"}),
            member("ME", EVELYN, JOIN),
        ],
        edges=[["END", "JR", "START"], ["END", "ME", "START"]],
        expected=["JR"],
    ),
    # A chain of power levels changes across users: the last one (Charlie's) stands.
    "offtopic_pl": Scenario(
        nodes=[
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50, CHARLIE: 50}),
            power_levels("PC", CHARLIE, {ALICE: 100, BOB: 50, CHARLIE: 0}),
        ],
        edges=[["END", "PC", "PB", "PA", "START"], ["END", "PA"]],
        expected=["PC"],
    ),
    # Alice demotes Bob in one fork while Bob sets power levels and a topic in the other:
    # Bob's events fail, and the topic is Alice's T2.
    "topic_basic": Scenario(
        nodes=[
            topic("T1", ALICE),
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 0}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T3", BOB),
            topic("T4", ALICE),
        ],
        edges=[["END", "PA2", "T2", "PA1", "T1", "START"], ["END", "T3", "PB", "PA1"]],
        expected=["PA2", "T2"],
    ),
    # As topic_basic, with a merge (a message) before Alice's last topic T4, which stands.
    "topic": Scenario(
        nodes=[
            topic("T1", ALICE),
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 0}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T3", BOB),
            Node("MZ1", ZARA, "m.room.message", None, {}),
            topic("T4", ALICE),
        ],
        edges=[
            ["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"],
            ["END", "MZ1", "T3", "PB", "PA1"],
        ],
        expected=["T4", "PA2"],
    ),
    # T3 (authorised by the newer PA2) beats T4, which was sent later but is authorised by
    # the older PA1 through Bob's PB: ordering by timestamp alone would pick T4.
    "mainline_sort": Scenario(
        nodes=[
            topic("T1", ALICE),
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 50}, events={"m.room.power_levels": 100}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T3", BOB),
            topic("T4", ALICE),
        ],
        edges=[["END", "T3", "PA2", "T2", "PA1", "T1", "START"], ["END", "T4", "PB", "PA1"]],
        expected=["T3", "PA2"],
    ),
}


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=ids)
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_classic_scenario(name: str, version: RoomVersion) -> None:
    scenario = SCENARIOS[name]
    graph = await Graph.build(version, scenario.nodes, scenario.edges)
    assert graph.resolutions >= 1  # END merges two forks: the scenario went through resolve_state
    assert graph.state_after["END"] == graph.expected_end_state(scenario.expected)


# v2 and v2.1 side by side: the same events and auth rules, only the algorithm differs.
V11_WITH_V2_1 = replace(V11, identifier="11", state_res=StateResAlgorithm.V2_1)
V12_WITH_V2 = replace(V12, identifier="12", state_res=StateResAlgorithm.V2)


def demotion_after_ban(version: RoomVersion) -> tuple[EventSet, list[StateMap]]:
    """Bob (PL 50 under P1) bans Charlie; Alice's P2 demotes Bob to 0. Both forks already
    hold P2 (it is unconflicted); only one holds the ban."""
    events = EventSet(version)
    base = events.add_base_room()
    events.add(
        "P1",
        ALICE,
        "m.room.power_levels",
        content={"users": {ALICE: 100, BOB: 50}},
        auth=["CREATE", "IMA", "IPOWER"],
    )
    events.add("BAN", BOB, "m.room.member", CHARLIE, BAN, auth=["CREATE", "P1", "IMB", "IMC"])
    events.add(
        "P2",
        ALICE,
        "m.room.power_levels",
        content={"users": {ALICE: 100, BOB: 0}},
        auth=["CREATE", "IMA", "P1"],
    )
    common = [n for n in base if n not in ("IPOWER", "IMC")] + ["P2"]
    return events, [events.state(*common, "BAN"), events.state(*common, "IMC")]


@pytest.mark.parametrize(
    ("version", "winner"),
    [(V11, "IMC"), (V12_WITH_V2, "IMC"), (V11_WITH_V2_1, "BAN"), (V12, "BAN")],
    ids=["v11", "v12-with-v2", "v11-with-v2.1", "v12"],
)
async def test_v2_1_checks_conflicted_events_from_an_empty_state(version: RoomVersion, winner: str) -> None:
    # v2 checks the ban against the unconflicted state, where P2 has already demoted Bob: the
    # ban fails. v2.1 starts from an empty state, so the ban is checked against its own auth
    # events (P1, Bob at 50) and stands.
    events, states = demotion_after_ban(version)
    resolved = await resolve_state(version, states, events.source)
    assert resolved[("m.room.member", CHARLIE)] == events.events[winner].event_id
    assert resolved[("m.room.power_levels", "")] == events.events["P2"].event_id


def promotion_chain(version: RoomVersion) -> tuple[EventSet, list[StateMap]]:
    """P1 (Bob 50) -> P2 (Bob 100) -> P3 (Bob gives Charlie 60). One fork's state holds P1,
    the other P3; P2 is in both auth chains (through Alice's topic T2), so it is not in the
    auth difference, only on the path between the two conflicted events."""
    events = EventSet(version)
    base = events.add_base_room()
    pl_auth = ["CREATE", "IMA", "IPOWER"]
    events.add("P1", ALICE, "m.room.power_levels", content={"users": {ALICE: 100, BOB: 50}}, auth=pl_auth)
    events.add(
        "P2",
        ALICE,
        "m.room.power_levels",
        content={"users": {ALICE: 100, BOB: 100}},
        auth=["CREATE", "IMA", "P1"],
    )
    events.add("T2", ALICE, "m.room.topic", content={"topic": "T2"}, auth=["CREATE", "IMA", "P2"])
    users = {ALICE: 100, BOB: 100, CHARLIE: 60}
    events.add("P3", BOB, "m.room.power_levels", content={"users": users}, auth=["CREATE", "IMB", "P2"])
    common = [n for n in base if n != "IPOWER"] + ["T2"]
    return events, [events.state(*common, "P1"), events.state(*common, "P3")]


@pytest.mark.parametrize(
    ("version", "winner"),
    [(V11, "P1"), (V11_WITH_V2_1, "P3")],
    ids=["v11", "v11-with-v2.1"],
)
async def test_v2_1_replays_the_conflicted_state_subgraph(version: RoomVersion, winner: str) -> None:
    # v2 never sees P2: Bob's P3 is checked against P1 (Bob at 50) and fails. v2.1 adds P2,
    # on the path P3 -> P2 -> P1, to the full conflicted set; P3 then passes.
    events, states = promotion_chain(version)
    resolved = await resolve_state(version, states, events.source)
    assert resolved[("m.room.power_levels", "")] == events.events[winner].event_id
    assert resolved[("m.room.topic", "")] == events.events["T2"].event_id  # unconflicted


async def test_conflicted_state_subgraph_only_from_v2_1() -> None:
    # IMB (Bob's join) is unconflicted, but only P3's auth chain has it: it is in the auth
    # difference (auth chains do not include the state events themselves).
    for version, expected in ((V11, {"P1", "P3", "IMB"}), (V11_WITH_V2_1, {"P1", "P2", "P3", "IMB"})):
        events, states = promotion_chain(version)
        unconflicted, conflicted = separate(states)
        cache = EventCache(events.source, version)
        sets = await conflicted_sets(cache, states, unconflicted, conflicted)
        assert sets.full == {events.events[n].event_id for n in expected}
        assert sets.auth_difference == {events.events["IMB"].event_id}
