"""State resolution: two forks of 1,000 conflicted state events each over a 10,000-event room.

    .venv/bin/python bench/bench_state_res.py [--runs 9] [--version 11|12] [--history 10000]

The room's history is a realistic auth chain: create, the creator's join, power levels, join
rules, then members joining (some changing their profile, leaving, being kicked or banned) and
the creator promoting moderators now and then, every event authorised against the state
before it. Two forks then grow from the same point, each with 1,000 state events whose keys
end up in its state: new members, profile changes, kicks and bans by moderators, power levels
changes, room state. `resolve_state` resolves the two fork states through an in-memory
EventSource; the figure is the median over the runs (each with a fresh source, so nothing is
cached between runs).

Beside it, the baseline measured in the same run: `check_auth_rules` once for every event of
the full conflicted set, the work no implementation of the iterative auth checks avoids.

Results (2-core shared machine, load average about 1.5, 21 runs; 7,816 state entries per fork,
2,512 conflicted events, 2,581 in the full conflicted set, 11-12 get_events batches):
    room v11 (v2):   median 85 ms (min 76), CPU 85 ms, check_auth_rules baseline 29 ms (2.9x)
    room v12 (v2.1): median 81 ms (min 73), CPU 81 ms, check_auth_rules baseline 26 ms (3.1x)
Under a load average of 6-8 from other test runs the same code measured 150-280 ms median.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import random
import statistics
import time
from collections.abc import Mapping
from typing import Any

from homeserver.auth.rules import AuthError, auth_types_for_event, check_auth_rules
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.state import InMemoryEventSource, resolve_state
from homeserver.state.graph import EventCache, conflicted_sets, separate

CREATOR = "@creator:example.org"


def user(n: int, fork: str = "") -> str:
    return f"@user{fork}{n}:server{n % 37}.example.org"


class Room:
    """A room being built: events authorised against the state before them."""

    def __init__(self, version: RoomVersion, events: dict[EventID, Event], seed: str) -> None:
        self.version = version
        self.events = events
        self.state: dict[StateKey, Event] = {}
        self.room_id = ""
        self.latest: list[EventID] = []
        self.ts = 1_700_000_000_000
        self.seq = 0
        self.seed = seed

    def copy(self, seed: str) -> Room:
        fork = Room(self.version, self.events, seed)
        fork.state, fork.room_id, fork.latest = dict(self.state), self.room_id, list(self.latest)
        fork.ts, fork.seq = self.ts, self.seq
        return fork

    def send(
        self, type: str, sender: str, content: Mapping[str, Any], state_key: str | None = ""
    ) -> Event | None:
        self.seq += 1
        self.ts += 1
        digest = hashlib.sha256(f"{self.seed}/{self.seq}".encode()).digest()
        event_id = EventID("$" + base64.urlsafe_b64encode(digest).decode().rstrip("="))
        keys = auth_types_for_event(type, sender, state_key, content, self.version)
        auth = sorted(self.state[k].event_id for k in keys if k in self.state)
        pdu: dict[str, Any] = {
            "type": type,
            "sender": sender,
            "content": dict(content),
            "origin_server_ts": self.ts,
            "depth": self.seq,
            "prev_events": list(self.latest),
            "auth_events": auth,
            "hashes": {"sha256": "x"},
            "signatures": {},
        }
        if state_key is not None:
            pdu["state_key"] = state_key
        if type == "m.room.create" and self.version.room_id_is_create_event_hash:
            self.room_id = "!" + event_id[1:]
        else:
            if not self.room_id:
                self.room_id = "!bench:example.org"
            pdu["room_id"] = self.room_id
        event = Event(event_id, self.version, pdu)
        try:
            check_auth_rules(event, self.state)
        except AuthError:
            return None
        self.events[event_id] = event
        self.latest = [event_id]
        if event.is_state:
            self.state[event.key] = event
        return event

    def member(self, sender: str, membership: str, target: str | None = None, **extra: Any) -> Event | None:
        return self.send("m.room.member", sender, {"membership": membership, **extra}, target or sender)

    def power_levels(self, users: Mapping[str, int]) -> Event | None:
        listed = {u: lvl for u, lvl in users.items() if u != CREATOR or not self.creator_infinite}
        return self.send("m.room.power_levels", CREATOR, {"users": listed, "state_default": 50, "kick": 50})

    @property
    def creator_infinite(self) -> bool:
        return self.version.creator_has_infinite_power

    def state_ids(self) -> dict[StateKey, EventID]:
        return {key: event.event_id for key, event in self.state.items()}


def promote(levels: dict[str, int], member: str, most: int = 25) -> None:
    """Make `member` a moderator; past `most` moderators the longest-serving one steps down."""
    levels[member] = 50
    moderators = [u for u in levels if u != CREATOR]
    if len(moderators) > most:
        del levels[moderators[0]]


def build_history(version: RoomVersion, size: int, rng: random.Random) -> tuple[Room, dict[str, int]]:
    events: dict[EventID, Event] = {}
    room = Room(version, events, "history")
    content: dict[str, Any] = {"room_version": version.identifier}
    if not version.implicit_room_creator:
        content["creator"] = CREATOR
    room.send("m.room.create", CREATOR, content)
    room.member(CREATOR, "join")
    levels = {CREATOR: 100}
    room.power_levels(levels)
    room.send("m.room.join_rules", CREATOR, {"join_rule": "public"})
    room.send("m.room.name", CREATOR, {"name": "Bench"})
    joined: list[str] = []
    n = 0
    while len(events) < size:
        roll = rng.random()
        if roll < 0.70 or len(joined) < 20:
            n += 1
            if room.member(user(n), "join", displayname=f"User {n}"):
                joined.append(user(n))
        elif roll < 0.82:
            who = rng.choice(joined)
            room.member(who, "join", displayname=f"{who} {room.seq}")
        elif roll < 0.88:
            who = joined.pop(rng.randrange(len(joined)))
            room.member(who, "leave")
        elif roll < 0.92:
            mods = [u for u, lvl in levels.items() if lvl >= 50 and u != CREATOR]
            target = rng.choice(joined)
            if mods and target not in levels:
                joined.remove(target)
                room.member(rng.choice(mods), rng.choice(["leave", "ban"]), target)
        elif roll < 0.95:
            promote(levels, rng.choice(joined))
            room.power_levels(levels)
        else:
            room.send("m.room.topic", CREATOR, {"topic": f"topic {room.seq}"})
    return room, levels


def grow_fork(
    room: Room, levels: dict[str, int], tag: str, rng: random.Random, changes: int, moderator_profiles: int
) -> Room:
    fork = room.copy(tag)
    levels = dict(levels)
    # Moderators who change their profile: their old member event, cited by the kicks and bans
    # they made before the fork, is now conflicted although it is behind unconflicted state.
    moderators = sorted(u for u in levels if u != CREATOR and fork.state.get(("m.room.member", u)))
    for moderator in rng.sample(moderators, min(moderator_profiles, len(moderators))):
        fork.member(moderator, "join", displayname=f"{moderator} in {tag}")
    members = [k[1] for k, e in fork.state.items() if k[0] == "m.room.member" and e.membership == "join"]
    existing = [u for u in members if u != CREATOR and u not in levels]
    rng.shuffle(existing)
    base_keys = set(fork.state)
    new = 0
    while sum(1 for k, e in fork.state.items() if k not in base_keys or room.state[k] is not e) < changes:
        roll = rng.random()
        mods = [u for u, lvl in levels.items() if lvl >= 50 and u != CREATOR]
        if roll < 0.60:
            new += 1
            fork.member(user(new, tag), "join", displayname=tag)
        elif roll < 0.80 and existing:
            who = existing.pop()
            fork.member(who, "join", displayname=f"{who} in {tag}")
        elif roll < 0.88 and existing and mods:
            fork.member(rng.choice(mods), rng.choice(["leave", "ban"]), existing.pop())
        elif roll < 0.90 and existing:
            promote(levels, existing.pop())
            fork.power_levels(levels)
        else:
            fork.send("org.example.bench", CREATOR, {"fork": tag}, state_key=f"{tag}{fork.seq}")
    return fork


async def resolve_once(
    version: RoomVersion, states: list[dict[StateKey, EventID]], events: Any
) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one resolution (CPU time is steadier on a shared machine)."""
    source = InMemoryEventSource(events)
    start, start_cpu = time.perf_counter(), time.process_time()
    await resolve_state(version, states, source)
    return time.perf_counter() - start, time.process_time() - start_cpu


async def full_conflicted_events(
    version: RoomVersion, states: list[dict[StateKey, EventID]], events: dict[EventID, Event]
) -> list[Event]:
    unconflicted, conflicted = separate(states)
    cache = EventCache(InMemoryEventSource(events), version)
    sets = await conflicted_sets(cache, states, unconflicted, conflicted)
    return [events[eid] for eid in sets.full]


def auth_baseline(events: list[Event], room: Room) -> float:
    start = time.process_time()
    for event in events:
        try:
            check_auth_rules(event, room.state)
        except AuthError:
            pass
    return time.process_time() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--version", default="11")
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--moderator-profiles", type=int, default=3, help="per fork")
    args = parser.parse_args()
    version = KNOWN_ROOM_VERSIONS[args.version]
    rng = random.Random(42)
    room, levels = build_history(version, args.history, rng)
    fork_a = grow_fork(room, levels, "a", rng, args.changes, args.moderator_profiles)
    fork_b = grow_fork(room, levels, "b", rng, args.changes, args.moderator_profiles)
    states = [fork_a.state_ids(), fork_b.state_ids()]
    unconflicted, conflicted = separate(states)
    full = await full_conflicted_events(version, states, room.events)
    print(
        f"room v{version.identifier} ({version.state_res.name}): {args.history} history events, "
        f"{len(room.events)} events in all, {len(states[0])}/{len(states[1])} state entries, "
        f"{len(unconflicted)} unconflicted, {sum(len(v) for v in conflicted.values())} conflicted, "
        f"{len(full)} in the full conflicted set"
    )
    counting = InMemoryEventSource(room.events)
    await resolve_state(version, states, counting)
    print(f"get_events batches in one resolution: {counting.get_events_calls}")
    runs = [await resolve_once(version, states, room.events) for _ in range(args.runs)]
    times, cpu = [wall for wall, _ in runs], [cpu for _, cpu in runs]
    baselines = [auth_baseline(full, room) for _ in range(args.runs)]
    median, floor = statistics.median(times), statistics.median(baselines)
    print(
        f"resolve_state: median {median * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
        f"max {max(times) * 1000:.1f}) over {args.runs} runs; "
        f"CPU time median {statistics.median(cpu) * 1000:.1f} ms"
    )
    print(
        f"baseline, check_auth_rules x{len(full)}: CPU time median {floor * 1000:.1f} ms; "
        f"resolve_state / baseline (CPU time) = {statistics.median(cpu) / floor:.1f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
