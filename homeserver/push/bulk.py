"""One event's push rules evaluated for every member it reaches, at the cost of a few
conditions per member (spec: "Push Rules").

Most members' rules differ only in their personal conditions (see `push.signature`): users of
one evaluator signature have the same other conditions, so for one event the rules whose other
conditions hold are found once per signature (a *plan*). Each user then asks only their own
personal conditions of those rules, in order; the first rule whose personal conditions hold is
theirs, else the first rule without personal conditions that holds, else none. That is exactly
`PushEvaluator.first_match`: a rule matches when all of its conditions do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from homeserver.events.model import Event
from homeserver.ids import UserID
from homeserver.push.evaluator import (
    BODY_PATH,
    PER_USER,
    CompiledRule,
    Condition,
    Path,
    PushContext,
    PushEvaluator,
    SharedConditions,
    contains_display_name,
    display_name_in,
    has,
    lookup,
)
from homeserver.push.triggers import body_words, value_key
from homeserver.room_versions import RoomVersion

_NOBODY: Final = UserID("")  # conditions outside PER_USER never read the context's user


@dataclass(frozen=True)
class RoomContext:
    """What the conditions may ask about the room: the same for every member."""

    room_version: RoomVersion
    member_count: int  # joined members
    power_levels: Event | None
    create: Event | None


@dataclass(frozen=True)
class _Plan:
    """For one signature and one event: the indexes of the rules that match if their personal
    conditions hold, in order, then the rule that matches whatever they say (or None)."""

    candidates: tuple[int, ...]
    fallback: int | None
    shared: SharedConditions  # that numbered the signature


class EventMatcher:
    """One event evaluated for many users. Lives as long as the evaluation of one event: it
    keeps the shared conditions' results and the plan of each signature met."""

    def __init__(self, event: Event, room: RoomContext) -> None:
        self._event = event
        self._fields = event.pdu
        self._room = room
        self._sender = self._fields.get("sender")
        content = self._fields.get("content")
        self._has_mentions = isinstance(content, Mapping) and "m.mentions" in content
        self._body = lookup(self._fields, BODY_PATH)
        # For every condition outside PER_USER, those holding a user's ID included.
        self._room_context = PushContext(
            _NOBODY, room.room_version, room.member_count, None, room.power_levels, room.create
        )
        self._memo: dict[tuple[int, ...], bool] = {}  # shared rules' results (`_in_full`)
        self._holds: dict[Condition, bool] = {}  # conditions outside PER_USER: their results
        self._plans: dict[int, _Plan] = {}
        self._paths: dict[Path, bool] = {}  # whether the event has a property
        self._words: frozenset[str] | None = None
        self._values: dict[Path, frozenset[tuple[type, Any]]] = {}
        self.plans_built = 0  # signatures met (for tests and metrics)

    def first_match(
        self, user_id: UserID, evaluator: PushEvaluator, display_name: str | None
    ) -> CompiledRule | None:
        """Exactly what `evaluator.first_match(event, PushContext(user_id, ...))` returns;
        `evaluator` holds `user_id`'s rules, compiled with shared conditions and their `owner`
        (without, it is evaluated in full)."""
        if self._sender == user_id:
            return None  # spec: never notify users of their own events
        plan = self.plan(evaluator)
        if plan is None:
            return self._in_full(user_id, evaluator, display_name)
        rules = evaluator.rules
        fields, room_context = self._fields, self._room_context
        for index in plan.candidates:
            rule = rules[index]
            for condition in rule.personal:  # a loop, not all(): this runs for every member
                if condition is contains_display_name:  # the common case, without a context
                    if not display_name_in(self._body, display_name):
                        break
                elif condition in PER_USER:
                    if not condition(fields, self._context(user_id, display_name)):
                        break
                elif not condition(fields, room_context):
                    break
            else:
                return rule
        return None if plan.fallback is None else rules[plan.fallback]

    def plan(self, evaluator: PushEvaluator) -> _Plan | None:
        """The plan of the evaluator's signature for this event; None when the evaluator has no
        signature or one numbered elsewhere than the plan met first."""
        signature, shared = evaluator.signature, evaluator.shared
        if signature is None or shared is None:
            return None
        plan = self._plans.get(signature)
        if plan is None:
            plan = self._plans[signature] = self._plan(evaluator.rules, shared)
        return plan if plan.shared is shared else None

    def words(self) -> frozenset[str]:
        """The folded words of the body (none when it is not a string)."""
        if self._words is None:
            body = self._body
            self._words = body_words(body) if isinstance(body, str) else frozenset()
        return self._words

    def values(self, path: Path) -> frozenset[tuple[type, Any]]:
        """The scalars of the list at `path`, as `triggers.value_key`s."""
        found = self._values.get(path)
        if found is None:
            items = lookup(self._fields, path)
            found = self._values[path] = (
                frozenset(
                    value_key(item) for item in items if item is None or isinstance(item, bool | int | str)
                )
                if isinstance(items, list)
                else frozenset()
            )
        return found

    def _in_full(
        self, user_id: UserID, evaluator: PushEvaluator, display_name: str | None
    ) -> CompiledRule | None:
        return evaluator.first_match(self._event, self._context(user_id, display_name), self._memo)

    def _plan(self, rules: tuple[CompiledRule, ...], shared: SharedConditions) -> _Plan:
        self.plans_built += 1
        candidates: list[int] = []
        skip_legacy, holds = self._has_mentions, self._holds
        fields, room_context = self._fields, self._room_context
        for index, rule in enumerate(rules):
            if skip_legacy and rule.legacy:
                continue  # spec ("Mentioning"): m.mentions switches off the body-based rules
            for condition in rule.common:  # loops, not all(): this runs for every signature
                hit = holds.get(condition)
                if hit is None:
                    hit = holds[condition] = condition(fields, room_context)
                if not hit:
                    break
            else:
                if not rule.personal:
                    return _Plan(tuple(candidates), index, shared)
                if all(path is None or self._present(path) for path in rule.personal_reads):
                    candidates.append(index)  # else false for every user (mostly: no m.mentions)
        return _Plan(tuple(candidates), None, shared)

    def _present(self, path: Path) -> bool:
        present = self._paths.get(path)
        if present is None:
            present = self._paths[path] = has(self._fields, path)
        return present

    def _context(self, user_id: UserID, display_name: str | None) -> PushContext:
        room = self._room
        return PushContext(
            user_id, room.room_version, room.member_count, display_name, room.power_levels, room.create
        )
