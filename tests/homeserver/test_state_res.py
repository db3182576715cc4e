"""State resolution v2 / v2.1: the classic scenarios (after the descriptions in Synapse's
tests/state/test_v2.py), run through the DAG harness in stateres_helpers."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from homeserver.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion, StateResAlgorithm
from tests.homeserver.stateres_helpers import (
    ALICE,
    BAN,
    BOB,
    CHARLIE,
    EVELYN,
    JOIN,
    ZARA,
    Graph,
    Node,
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
