"""A room's members indexed for push rule evaluation, so that one event costs work for the
members it may concern, not for every member (spec: "Push Rules").

Members are grouped by evaluator signature (`bulk.EventMatcher`): for one event, every member
of a group gets their own copy of the same rule unless the personal conditions of an earlier
rule hold for them. Those conditions need a word of the body (a display name, a local part)
or a value in a list (an `m.mentions` user ID), their *trigger* (`push.triggers`); each rule's
members are indexed by what their trigger needs. An event then finds the members whose
triggers it meets by looking up its own words and values, evaluates only those in full, and
leaves everyone else of the group to the rule that holds whatever the personal conditions
say. Members whose personal conditions have no trigger are evaluated in full each time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from homeserver.ids import UserID
from homeserver.push.bulk import EventMatcher
from homeserver.push.evaluator import CompiledRule, Path, PushEvaluator
from homeserver.push.triggers import Contains, Trigger, value_key, word_key


@dataclass(frozen=True)
class Member:
    user_id: UserID
    evaluator: PushEvaluator  # their rules, compiled with shared conditions and them as owner
    name: str | None  # their display name in the room


class _RuleIndex:
    """One rule of a signature group: its members by what their personal conditions need."""

    __slots__ = ("always", "values", "words")

    def __init__(self) -> None:
        self.words: dict[str, list[Member]] = {}  # folded first word -> members
        self.values: dict[Path, dict[tuple[type, Any], list[Member]]] = {}
        self.always: list[Member] = []  # no trigger: asked every time

    def add(self, member: Member, trigger: Trigger | None) -> None:
        if trigger is None:
            self.always.append(member)
        elif isinstance(trigger, Contains):
            by_value = self.values.setdefault(trigger.path, {})
            by_value.setdefault(value_key(trigger.value), []).append(member)
        elif trigger.text is None and not member.name:
            return  # contains_display_name without a name never holds
        else:
            key = word_key(member.name or "" if trigger.text is None else trigger.text)
            if key is None:
                self.always.append(member)  # no word character to look up
            else:
                self.words.setdefault(key, []).append(member)

    def hits(self, matcher: EventMatcher) -> Iterator[Member]:
        """The members whose triggers the event meets (some more than once)."""
        yield from self.always
        if self.words:
            by_word = self.words
            for word in matcher.words():
                yield from by_word.get(word, ())
        for path, by_value in self.values.items():
            for value in matcher.values(path):
                yield from by_value.get(value, ())


@dataclass(eq=False)
class SignatureGroup:
    """Members whose evaluators share a signature (and the shared conditions numbering it)."""

    members: list[Member]
    user_ids: tuple[UserID, ...] = ()
    _rules: dict[int, _RuleIndex] = field(default_factory=dict)

    @property
    def evaluator(self) -> PushEvaluator:
        return self.members[0].evaluator

    def rule_index(self, index: int) -> _RuleIndex:
        """The members of rule `index` by trigger, built on first use."""
        found = self._rules.get(index)
        if found is None:
            found = self._rules[index] = _RuleIndex()
            for member in self.members:
                rule = member.evaluator.rules[index]
                found.add(member, next((t for t in rule.personal_triggers if t is not None), None))
        return found


@dataclass
class Matches:
    """Every member's first matching rule for one event: each group's members get their own
    copy of the rule at the group's index (None: no rule), except the members in `own`, who
    were evaluated one by one (the sender among them, with None)."""

    groups: list[tuple[SignatureGroup, int | None]]
    own: dict[UserID, CompiledRule | None]

    def rules(self) -> Iterator[tuple[UserID, CompiledRule | None]]:
        """Each member with their rule (for tests and checks)."""
        yield from self.own.items()
        for group, index in self.groups:
            for member in group.members:
                if member.user_id not in self.own:
                    yield member.user_id, None if index is None else member.evaluator.rules[index]


class MemberIndex:
    """A room's members grouped by signature; immutable, built again when members, names or
    rules change."""

    def __init__(self, members: Iterable[Member]) -> None:
        groups: dict[tuple[int, int], list[Member]] = {}
        self.user_ids: set[str] = set()
        self.solo: list[Member] = []  # without a signature: evaluated one by one
        for member in members:
            self.user_ids.add(member.user_id)
            evaluator = member.evaluator
            if evaluator.signature is None or evaluator.shared is None:
                self.solo.append(member)
            else:
                groups.setdefault((evaluator.signature, id(evaluator.shared)), []).append(member)
        self.groups = [SignatureGroup(group, tuple(m.user_id for m in group)) for group in groups.values()]

    def match(self, matcher: EventMatcher, sender: str) -> Matches:
        own: dict[UserID, CompiledRule | None] = {}
        found: list[tuple[SignatureGroup, int | None]] = []
        for member in self.solo:
            own[member.user_id] = matcher.first_match(member.user_id, member.evaluator, member.name)
        for group in self.groups:
            plan = matcher.plan(group.evaluator)
            if plan is None:  # numbered elsewhere than a plan met first: one by one
                asked: Iterable[Member] = group.members
            else:
                asked = (hit for index in plan.candidates for hit in group.rule_index(index).hits(matcher))
                found.append((group, plan.fallback))
            for member in asked:
                if member.user_id not in own:
                    own[member.user_id] = matcher.first_match(member.user_id, member.evaluator, member.name)
        if sender in self.user_ids:
            own[UserID(sender)] = None
        return Matches(found, own)
