"""Push rules of one event for every member of a 200-member room: the planner's old per-user
loop (`PushEvaluator.first_match` with the per-event memo) against `bulk.EventMatcher` and
`index.MemberIndex` (what the planner uses now).

    .venv/bin/python bench/bench_push_eval.py [--rounds 7] [--users 200] [--events 1000]

190 members keep the server-default rules, 10 have rules of their own (a muted room, a
keyword, a loud sender, a disabled default, the master rule on). Every member has a display
name. The 1,000 messages come from members: 60% plain, 20% with m.mentions naming one member,
20% without m.mentions and with a member's display name in the body (the legacy rule's case).
Each round times the loops over all events, alternating their order; the figures are per
event (all members) and per member, median and min over the rounds. Every loop gives the old
loop's rule for every (event, member), checked before timing.

Without `homeserver.push.bulk` or `homeserver.push.index` (older trees), those are not timed.

Results (2-core shared machine, load average 4.3-6.6 from other test runs, so wall times are
noisy and CPU time is the figure to compare; three interleaved runs of 5 rounds each, the tree
before the matcher (499291a) against cfa0399):
    old loop, before:  CPU median 4,544-4,598 us per event (22.8-23.1 us per member)
    EventMatcher:      CPU median 1,030-1,095 us per event (5.2-5.5 us per member), about 4.3x
    by kind (before -> matcher, CPU us per event): plain 4,854-5,008 -> 1,083-1,132;
    m.mentions of one 3,337-3,469 -> 677-744; name in body 4,779-4,864 -> 1,037-1,103;
    plain with an empty m.mentions (current clients, not in the mix) 2,980-3,031 -> 377-387.

MemberIndex (`push.index`, 7a6c812), one run of 5 rounds, load average 4.3 (CPU median per
event): old loop 3,893 us, EventMatcher 654 us, MemberIndex 117 us (0.59 us per member); by
kind (old / matcher / index): plain 3,899 / 581 / 83; m.mentions of one 2,959 / 396 / 83; name
in body 4,334 / 788 / 199 (about 14 members share each first name, all evaluated in full);
empty m.mentions 3,120 / 228 / 66. With --users 1000 --events 300 (3 rounds, load 4.8): old
21,115 us, EventMatcher 5,029 us, MemberIndex 198 us: what is left grows with the signatures
and the members an event names, not with the room."""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from homeserver.events.model import Event
from homeserver.ids import EventID, UserID
from homeserver.push.evaluator import CompiledRule, PushContext, PushEvaluator, SharedConditions
from homeserver.push.rules import KINDS, Ruleset, UserRules, default_rules_for
from homeserver.room_versions import KNOWN_ROOM_VERSIONS

try:
    from homeserver.push.bulk import EventMatcher, RoomContext
except ImportError:  # the tree before the matcher
    EventMatcher = None  # type: ignore[assignment,misc]
try:
    from homeserver.push.index import Member, MemberIndex
except ImportError:  # the tree before the index
    MemberIndex = None  # type: ignore[assignment,misc]

V11 = KNOWN_ROOM_VERSIONS["11"]
ROOM = "!bench:example.org"
FIRST = ["Ada", "Bea", "Cal", "Dan", "Eve", "Fay", "Gus", "Hui", "Ivo", "Jo", "Kai", "Lea", "Max", "Noa"]
LAST = ["Smith", "Jones", "Brown", "Lopez", "Khan", "Ito", "Novak", "Silva", "Meyer", "Dubois"]


def users(count: int) -> list[UserID]:
    return [UserID(f"@member{n}:example.org") for n in range(count)]


def ruleset(user_id: UserID, n: int) -> Ruleset:
    """Default rules for most; every 20th member has changed something."""
    if n % 20 != 7:
        return default_rules_for(user_id)
    own: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    choice = (n // 20) % 5
    if choice == 0:
        own["room"] = [{"rule_id": ROOM, "default": False, "enabled": True, "actions": []}]
    elif choice == 1:
        own["content"] = [
            {"rule_id": "k", "default": False, "enabled": True, "pattern": "deploy", "actions": ["notify"]}
        ]
    elif choice == 2:
        own["sender"] = [
            {"rule_id": "@member3:example.org", "default": False, "enabled": True, "actions": ["notify"]}
        ]
    rendered = UserRules(custom={kind: tuple(rules) for kind, rules in own.items()}).render(user_id)
    for rule in rendered["override"] + rendered["underride"]:
        if choice == 3 and rule["rule_id"] == ".m.rule.message":
            rule["enabled"] = False
        if choice == 4 and rule["rule_id"] == ".m.rule.master":
            rule["enabled"] = True
    return rendered


def messages(members: list[UserID], names: dict[UserID, str], count: int, rng: random.Random) -> list[Event]:
    out = []
    for n in range(count):
        sender = rng.choice(members)
        content: dict[str, Any] = {"msgtype": "m.text", "body": "shall we move the standup to ten tomorrow?"}
        roll = rng.random()
        if roll < 0.2:
            target = rng.choice(members)
            content["body"] = f"{names[target]}: can you take a look?"
            content["m.mentions"] = {"user_ids": [target]}
        elif roll < 0.4:
            content["body"] = f"I think {names[rng.choice(members)]} knows about the deploy"
        pdu = {"type": "m.room.message", "sender": sender, "room_id": ROOM, "content": content}
        out.append(Event(EventID(f"$e{n}"), V11, pdu))
    return out


Match = Callable[[Event, bool], list[CompiledRule | None]]  # every member's rule, or only the work


def old_loop(
    members: list[UserID], evaluators: dict[UserID, PushEvaluator], names: dict[UserID, str]
) -> Match:
    """The planner's loop before the matcher: a context per member, one memo per event."""

    def match(event: Event, every: bool = True) -> list[CompiledRule | None]:
        memo: dict[tuple[int, ...], bool] = {}
        out = []
        for user_id in members:
            if user_id == event.sender:
                continue
            context = PushContext(user_id, V11, len(members), names[user_id], None, None)
            out.append(evaluators[user_id].first_match(event, context, memo))
        return out

    return match


def matcher_loop(
    members: list[UserID], evaluators: dict[UserID, PushEvaluator], names: dict[UserID, str]
) -> Match:
    room = RoomContext(V11, len(members), None, None)

    def match(event: Event, every: bool = True) -> list[CompiledRule | None]:
        matcher = EventMatcher(event, room)
        return [
            matcher.first_match(user_id, evaluators[user_id], names[user_id])
            for user_id in members
            if user_id != event.sender
        ]

    return match


def indexed_loop(
    members: list[UserID], evaluators: dict[UserID, PushEvaluator], names: dict[UserID, str]
) -> Match:
    """The members indexed by what their personal conditions need (`push.index`): only those an
    event may concern are evaluated in full. Timed without listing every member's rule (what
    the planner keeps is a rule per group), which `check` asks for."""
    room = RoomContext(V11, len(members), None, None)
    index = MemberIndex(Member(user_id, evaluators[user_id], names[user_id]) for user_id in members)

    def match(event: Event, every: bool = False) -> list[CompiledRule | None]:
        found = index.match(EventMatcher(event, room), event.sender)
        if not every:
            return []
        rules = dict(found.rules())
        return [rules[user_id] for user_id in members if user_id != event.sender]

    return match


def timed(match: Match, events: list[Event]) -> tuple[float, float]:
    """Wall and CPU seconds (CPU time is less disturbed by other processes on the machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    for event in events:
        match(event, False)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(1)
    members = users(args.users)
    names = {u: f"{rng.choice(FIRST)} {rng.choice(LAST)}" for u in members}
    shared = SharedConditions()
    try:
        evaluators = {u: PushEvaluator(ruleset(u, n), shared, owner=u) for n, u in enumerate(members)}
    except TypeError:  # the tree before owners
        evaluators = {u: PushEvaluator(ruleset(u, n), shared) for n, u in enumerate(members)}
    events = messages(members, names, args.events, rng)
    loops = {"old per-user loop": old_loop(members, evaluators, names)}
    if EventMatcher is not None:
        loops["EventMatcher"] = matcher_loop(members, evaluators, names)
    if MemberIndex is not None:
        loops["MemberIndex"] = indexed_loop(members, evaluators, names)
    check(loops, events)
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in loops}
    for round_ in range(args.rounds):
        order = list(loops) if round_ % 2 == 0 else list(loops)[::-1]
        for name in order:
            seconds[name].append(timed(loops[name], events))
    per_member = args.users - 1
    print(f"all {args.events} events:")
    for name, runs in seconds.items():
        per_event = [wall / args.events * 1e6 for wall, _ in runs]
        cpu = [cpu / args.events * 1e6 for _, cpu in runs]
        median, cpu_median = statistics.median(per_event), statistics.median(cpu)
        print(
            f"  {name:18} per event: median {median:6.0f} us, min {min(per_event):6.0f} us,"
            f" CPU median {cpu_median:6.0f} us | per member (CPU): {cpu_median / per_member:5.2f} us"
            f" | rounds (wall us/event): {', '.join(f'{v:.0f}' for v in per_event)}"
        )
    by_class(loops, classes(events, members, rng), args.rounds)


def classes(events: list[Event], members: list[UserID], rng: random.Random) -> dict[str, list[Event]]:
    """The events by kind, and beside them plain messages as current clients send them (an
    empty m.mentions), which are not part of the mix."""
    out: dict[str, list[Event]] = {"plain": [], "m.mentions of one": [], "name in body": []}
    for event in events:
        if "m.mentions" in event.content:
            out["m.mentions of one"].append(event)
        else:
            out["plain" if event.content["body"].startswith("shall") else "name in body"].append(event)
    out["plain, empty m.mentions (extra)"] = [
        Event(event.event_id, V11, {**event.pdu, "content": {**event.content, "m.mentions": {}}})
        for event in out["plain"][:200]
    ]
    return out


def by_class(loops: dict[str, Match], events: dict[str, list[Event]], rounds: int) -> None:
    print("by kind (CPU median per event):")
    for kind, chosen in events.items():
        cpu: dict[str, list[float]] = {name: [] for name in loops}
        for round_ in range(rounds):
            for name in list(loops) if round_ % 2 == 0 else list(loops)[::-1]:
                cpu[name].append(timed(loops[name], chosen)[1] / len(chosen) * 1e6)
        figures = ", ".join(f"{name} {statistics.median(runs):6.0f} us" for name, runs in cpu.items())
        print(f"  {kind:32} ({len(chosen):3}): {figures}")


def check(loops: dict[str, Match], events: list[Event]) -> None:
    """Every loop gives the old loop's rule (ID and actions) for every event and member."""
    old, *new = loops.values()
    for event in events:
        expected = [(r.rule_id, r.actions) if r else None for r in old(event, True)]
        for loop in new:
            got = [(r.rule_id, r.actions) if r else None for r in loop(event, True)]
            assert got == expected, event.event_id


if __name__ == "__main__":
    main()
