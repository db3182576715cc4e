"""A small DAG harness for state resolution tests.

A scenario names events (`Node`: made-up ID, sender, type, state_key, content) and chains of
prev_events links (`["END", "T1", "START"]`: END follows T1, which follows START). `Graph`
creates the events in topological order (ties broken by node ID; origin_server_ts counts up
in that order), computes the state before each event by resolving the states after its
prev_events with `resolve_state`, and cites as auth_events the entries of that state that
the auth events selection names. Events are not auth-checked on creation, so a scenario can
contain events the resolution must refuse.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.auth.rules import auth_types_for_event
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import EventFormat, RoomVersion
from homeserver.state import InMemoryEventSource, resolve_state

ALICE = "@alice:example.com"  # creates every room
BOB = "@bob:example.com"
CHARLIE = "@charlie:example.com"
EVELYN = "@evelyn:example.com"
ZARA = "@zara:example.com"

JOIN = {"membership": "join"}
BAN = {"membership": "ban"}
LEAVE = {"membership": "leave"}

StateMap = dict[StateKey, EventID]


@dataclass(frozen=True)
class Node:
    id: str
    sender: str
    type: str
    state_key: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)


def member(node_id: str, sender: str, content: Mapping[str, Any], target: str | None = None) -> Node:
    return Node(node_id, sender, "m.room.member", target or sender, content)


def power_levels(node_id: str, sender: str, users: Mapping[str, int], **extra: Any) -> Node:
    return Node(node_id, sender, "m.room.power_levels", "", {"users": dict(users), **extra})


def topic(node_id: str, sender: str) -> Node:
    return Node(node_id, sender, "m.room.topic", "", {"topic": node_id})


INITIAL_NODES = [
    Node("CREATE", ALICE, "m.room.create", "", {"creator": ALICE}),
    member("IMA", ALICE, JOIN),
    power_levels("IPOWER", ALICE, {ALICE: 100}),
    Node("IJR", ALICE, "m.room.join_rules", "", {"join_rule": "public"}),
    member("IMB", BOB, JOIN),
    member("IMC", CHARLIE, JOIN),
    member("IMZ", ZARA, JOIN),
    Node("START", ZARA, "m.room.message", None, {}),
    Node("END", ZARA, "m.room.message", None, {}),
]
INITIAL_EDGES = ["START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE"]


def event_id(node_id: str) -> EventID:
    return EventID(f"${node_id}:example.com")


def build_event(
    version: RoomVersion,
    node_id: str,
    *,
    sender: str,
    type: str,
    state_key: str | None = "",
    content: Mapping[str, Any] | None = None,
    prev: Iterable[str] = (),
    auth: Iterable[str] = (),
    ts: int = 0,
    rejected_reason: str | None = None,
) -> Event:
    """One event with made-up IDs ("$<node_id>:example.com"); `prev` and `auth` name nodes.
    From v12 the room ID is the create event's ID ("$CREATE:..." -> "!CREATE:...")."""
    pdu: dict[str, Any] = {
        "type": type,
        "sender": sender,
        "content": dict(content or {}),
        "origin_server_ts": ts,
        "depth": ts + 1,
        "prev_events": _refs(version, prev),
        "auth_events": _refs(version, auth),
    }
    if state_key is not None:
        pdu["state_key"] = state_key
    is_create = type == "m.room.create"
    if version.room_id_is_create_event_hash:
        if not is_create:
            pdu["room_id"] = "!" + event_id("CREATE")[1:]
    else:
        pdu["room_id"] = "!room:example.com"
    if version.event_format is EventFormat.V1:
        pdu["event_id"] = event_id(node_id)
    return Event(event_id(node_id), version, pdu, rejected_reason=rejected_reason)


def _refs(version: RoomVersion, nodes: Iterable[str]) -> list[Any]:
    ids = [event_id(n) for n in nodes]
    if version.event_format is EventFormat.V1:
        return [[i, {}] for i in ids]
    return ids


def adapt_content(version: RoomVersion, node: Node) -> dict[str, Any]:
    """Scenario content made valid for the room version: the create event names its version
    (and its creator before v11); from v12 creators may not be listed in power levels."""
    content = dict(node.content)
    if node.type == "m.room.create":
        content["room_version"] = version.identifier
        if version.implicit_room_creator:
            content.pop("creator", None)
    if node.type == "m.room.power_levels" and version.creator_has_infinite_power:
        users = {u: level for u, level in content.get("users", {}).items() if u != ALICE}
        content["users"] = users
    return content


class Graph:
    """A room DAG built from nodes and prev_events chains, with the state at every event."""

    def __init__(self, version: RoomVersion) -> None:
        self.version = version
        self.source = InMemoryEventSource()
        self.events: dict[str, Event] = {}  # node ID -> event
        self.node_of: dict[EventID, str] = {}
        self.state_after: dict[str, StateMap] = {}  # node ID -> state after the event
        self.state_before: dict[str, StateMap] = {}
        self.resolutions = 0

    @classmethod
    async def build(
        cls,
        version: RoomVersion,
        nodes: Sequence[Node],
        edges: Sequence[Sequence[str]],
        *,
        initial: bool = True,
    ) -> Graph:
        graph = cls(version)
        all_nodes = (INITIAL_NODES if initial else []) + list(nodes)
        all_edges = ([INITIAL_EDGES] if initial else []) + list(edges)
        by_id = {node.id: node for node in all_nodes}
        prevs: dict[str, set[str]] = {node.id: set() for node in all_nodes}
        for chain in all_edges:
            for later, earlier in itertools.pairwise(chain):
                prevs[later].add(earlier)
        for ts, node_id in enumerate(_topological(prevs)):
            await graph.add(by_id[node_id], sorted(prevs[node_id]), ts)
        return graph

    async def add(self, node: Node, prev: Sequence[str], ts: int) -> Event:
        states = [self.state_after[p] for p in prev]
        if not states:
            before: StateMap = {}
        elif len(states) == 1:
            before = dict(states[0])
        else:
            self.resolutions += 1
            before = await resolve_state(self.version, states, self.source)
        content = adapt_content(self.version, node)
        keys = auth_types_for_event(node.type, node.sender, node.state_key, content, self.version)
        auth_nodes = sorted(self.node_of[before[key]] for key in keys if key in before)
        event = build_event(
            self.version,
            node.id,
            sender=node.sender,
            type=node.type,
            state_key=node.state_key,
            content=content,
            prev=prev,
            auth=auth_nodes,
            ts=ts,
        )
        self.source.add(event)
        self.events[node.id] = event
        self.node_of[event.event_id] = node.id
        self.state_before[node.id] = before
        after = dict(before)
        if event.is_state:
            after[event.key] = event.event_id
        self.state_after[node.id] = after
        return event

    def expected_end_state(self, expected_nodes: Iterable[str]) -> StateMap:
        """The state at START with the keys of `expected_nodes` set to them."""
        expected = dict(self.state_after["START"])
        for node_id in expected_nodes:
            event = self.events[node_id]
            expected[event.key] = event.event_id
        return expected


def _topological(prevs: Mapping[str, set[str]]) -> list[str]:
    """Earliest first; among the ready nodes, the smallest node ID."""
    waiting = {node: len(p) for node, p in prevs.items()}
    followers: dict[str, list[str]] = {}
    for node, p in prevs.items():
        for earlier in p:
            followers.setdefault(earlier, []).append(node)
    ready = [node for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for later in followers.get(node, ()):
            waiting[later] -= 1
            if waiting[later] == 0:
                heapq.heappush(ready, later)
    assert len(order) == len(prevs), "the prev_events graph has a cycle"
    return order


class EventSet:
    """Hand-built events for tests that write auth_events out themselves. Timestamps count up
    in the order events are added."""

    def __init__(self, version: RoomVersion) -> None:
        self.version = version
        self.events: dict[str, Event] = {}
        self.source = InMemoryEventSource()

    def add(
        self,
        node_id: str,
        sender: str,
        type: str,
        state_key: str | None = "",
        content: Mapping[str, Any] | None = None,
        *,
        auth: Iterable[str] = (),
        prev: Iterable[str] | None = None,
        ts: int | None = None,
        rejected_reason: str | None = None,
    ) -> Event:
        node = Node(node_id, sender, type, state_key, dict(content or {}))
        event = build_event(
            self.version,
            node_id,
            sender=sender,
            type=type,
            state_key=state_key,
            content=adapt_content(self.version, node),
            prev=list(self.events)[-1:] if prev is None else prev,
            auth=[a for a in auth if a != "CREATE" or not self.version.create_event_not_in_auth_events],
            ts=len(self.events) if ts is None else ts,
            rejected_reason=rejected_reason,
        )
        self.events[node_id] = event
        self.source.add(event)
        return event

    def state(self, *node_ids: str) -> StateMap:
        """A state map holding these events."""
        return {self.events[n].key: self.events[n].event_id for n in node_ids}

    def add_base_room(self) -> list[str]:
        """CREATE, Alice's join, IPOWER (Alice 100), IJR (public), Bob's and Charlie's joins."""
        self.add("CREATE", ALICE, "m.room.create", content={"creator": ALICE}, prev=[])
        self.add("IMA", ALICE, "m.room.member", ALICE, JOIN, auth=["CREATE"])
        self.add(
            "IPOWER", ALICE, "m.room.power_levels", content={"users": {ALICE: 100}}, auth=["CREATE", "IMA"]
        )
        self.add(
            "IJR",
            ALICE,
            "m.room.join_rules",
            content={"join_rule": "public"},
            auth=["CREATE", "IMA", "IPOWER"],
        )
        self.add("IMB", BOB, "m.room.member", BOB, JOIN, auth=["CREATE", "IPOWER", "IJR"])
        self.add("IMC", CHARLIE, "m.room.member", CHARLIE, JOIN, auth=["CREATE", "IPOWER", "IJR"])
        return ["CREATE", "IMA", "IPOWER", "IJR", "IMB", "IMC"]

    def power_levels(
        self, node_id: str, sender: str, users: Mapping[str, int], auth: Iterable[str], **kw: Any
    ) -> Event:
        return self.add(
            node_id, sender, "m.room.power_levels", content={"users": dict(users)}, auth=auth, **kw
        )

    def topic(self, node_id: str, sender: str, auth: Iterable[str], **kw: Any) -> Event:
        return self.add(node_id, sender, "m.room.topic", content={"topic": node_id}, auth=auth, **kw)
