"""The push rule evaluator (spec: "Push Rules", "Conditions", "Actions").

Pure: a `PushEvaluator` is compiled once from a user's ruleset (glob patterns and key paths
parsed once), and each evaluation takes the event and a `PushContext` holding what the
conditions may ask about the room (the user's display name, the member count, the power
levels), so counting unread notifications costs no query per rule."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from typing import Any, Final, NamedTuple

import orjson

from homeserver.auth.power_levels import notification_level, user_power_level
from homeserver.events.model import Event
from homeserver.ids import UserID, user_id_localpart
from homeserver.push.glob import Glob, contains_words
from homeserver.push.rules import KINDS, LEGACY_MENTION_RULES, Rule, Ruleset
from homeserver.push.signature import names_user, rules_shape
from homeserver.push.triggers import DISPLAY_NAME, Contains, Trigger, Words, is_literal
from homeserver.push.validation import MEMBER_COUNT, is_scalar
from homeserver.room_versions import RoomVersion

_MISSING: Final = object()
BODY_PATH: Final = ("content", "body")


@dataclass(frozen=True)
class PushContext:
    """The room as the conditions see it when an event reaches `user_id`."""

    user_id: UserID
    room_version: RoomVersion
    member_count: int  # joined members
    display_name: str | None = None  # the user's display name in the room
    power_levels: Event | None = None  # the room's m.room.power_levels
    create: Event | None = None  # the room's m.room.create (room creators' power from v12)


class PushResult(NamedTuple):
    notify: bool
    highlight: bool
    sound: str | None


NO_NOTIFY: Final = PushResult(False, False, None)

Condition = Callable[[Mapping[str, Any], PushContext], bool]
Path = tuple[str, ...]  # a property path in the event (`split_path`)


class SharedConditions:
    """Compiled conditions shared by the evaluators of many users: a condition written the
    same way (most server-default rules) is compiled once, so that its result for an event
    can be reused for every member the event reaches (see `first_match`'s memo). Evaluator
    signatures are numbered here too (see `PushEvaluator`)."""

    def __init__(self, limit: int = 20_000) -> None:
        self._known: dict[str, Condition] = {}
        self._limit = limit
        self._signatures: dict[Hashable, int] = {}
        self._next_signature = count()  # never reused, even after a clear

    def get(self, key: str, build: Callable[[], Condition]) -> Condition:
        condition = self._known.get(key)
        if condition is None:
            if len(self._known) >= self._limit:
                self._known.clear()
            condition = self._known[key] = build()
        return condition

    def signature(self, shape: Hashable) -> int:
        """A small int for an evaluator's shape: equal ints mean equal shapes (the shapes hold
        their condition objects, so an object's id is never reused while it is known)."""
        number = self._signatures.get(shape)
        if number is None:
            if len(self._signatures) >= self._limit:
                self._signatures.clear()
            number = self._signatures[shape] = next(self._next_signature)
        return number


@dataclass(frozen=True)
class CompiledRule:
    kind: str
    rule_id: str
    actions: tuple[Any, ...]
    conditions: tuple[Condition, ...]
    owned: tuple[bool, ...] = ()  # per condition: its rule JSON names the evaluator's owner
    reads: tuple[Path | None, ...] = ()  # per condition: a path it is false without, if known
    triggers: tuple[Trigger | None, ...] = ()  # per condition: what it needs in the event, if known
    personal: tuple[Condition, ...] = field(init=False)  # those whose result is the user's own
    personal_reads: tuple[Path | None, ...] = field(init=False)  # their `reads`
    personal_triggers: tuple[Trigger | None, ...] = field(init=False)  # their `triggers`
    common: tuple[Condition, ...] = field(init=False)  # the others: one result for all users
    shared: bool = field(init=False)
    memo_key: tuple[int, ...] = field(init=False)
    legacy: bool = field(init=False)
    result: PushResult = field(init=False)  # what the actions mean

    def __post_init__(self) -> None:
        owned = self.owned or (False,) * len(self.conditions)
        reads = self.reads or (None,) * len(self.conditions)
        triggers = self.triggers or (None,) * len(self.conditions)
        mine = [i for i, c in enumerate(self.conditions) if owned[i] or c in PER_USER]
        object.__setattr__(self, "personal", tuple(self.conditions[i] for i in mine))
        object.__setattr__(self, "personal_reads", tuple(reads[i] for i in mine))
        object.__setattr__(self, "personal_triggers", tuple(triggers[i] for i in mine))
        object.__setattr__(self, "common", tuple(c for i, c in enumerate(self.conditions) if i not in mine))
        # Same result for every user of one event: no condition reads the user's own context.
        object.__setattr__(self, "shared", not any(c in PER_USER for c in self.conditions))
        object.__setattr__(self, "memo_key", tuple(id(c) for c in self.conditions))
        object.__setattr__(self, "legacy", self.rule_id in LEGACY_MENTION_RULES)
        object.__setattr__(self, "result", result_of(self.actions))

    def matches(self, event: Mapping[str, Any], context: PushContext) -> bool:
        return all(condition(event, context) for condition in self.conditions)


class PushEvaluator:
    """One user's enabled rules in the order they are checked.

    With `shared` conditions and the `owner` of the rules, the evaluator also knows its
    *personal* conditions (those about the owner: their display name, or whose JSON names
    them) and its `signature`: equal for two users' evaluators exactly when everything but the
    personal conditions is the same, so for one event, the rules whose other conditions hold
    are found once for all users of a signature (`bulk.EventMatcher`)."""

    def __init__(
        self, ruleset: Ruleset, shared: SharedConditions | None = None, owner: UserID | None = None
    ) -> None:
        self.rules = tuple(
            compile_rule(kind, rule, shared, owner)
            for kind in KINDS
            for rule in ruleset.get(kind, ())
            if isinstance(rule, dict) and rule.get("enabled") is True
        )
        # None without shared conditions: no two users' conditions are the same objects then.
        self.signature = None if shared is None else shared.signature(rules_shape(self.rules))
        self.shared = shared  # signatures compare only between evaluators of the same one

    def first_match(
        self,
        event: Event | Mapping[str, Any],
        context: PushContext,
        memo: dict[tuple[int, ...], bool] | None = None,
    ) -> CompiledRule | None:
        """The first enabled rule that matches the event (None for the user's own events).
        `memo`: results of shared rules for this event, kept across the users it reaches."""
        fields = event.pdu if isinstance(event, Event) else event
        if fields.get("sender") == context.user_id:
            return None  # spec: never notify users of their own events
        content = fields.get("content")
        has_mentions = (type(content) is dict or isinstance(content, Mapping)) and "m.mentions" in content
        for rule in self.rules:
            if has_mentions and rule.legacy:
                continue  # spec ("Mentioning"): m.mentions switches off the body-based rules
            hit: bool | None
            if memo is None:
                hit = rule.matches(fields, context)
            elif rule.shared:
                hit = memo.get(rule.memo_key)
                if hit is None:
                    hit = memo[rule.memo_key] = rule.matches(fields, context)
            else:
                hit = _matches_with_memo(rule, fields, context, memo)
            if hit:
                return rule
        return None

    def evaluate(self, event: Event | Mapping[str, Any], context: PushContext) -> PushResult:
        rule = self.first_match(event, context)
        return NO_NOTIFY if rule is None else rule.result


def _matches_with_memo(
    rule: CompiledRule, event: Mapping[str, Any], context: PushContext, memo: dict[tuple[int, ...], bool]
) -> bool:
    """A rule with a condition about the user: the other conditions' results are shared (a
    condition holding the user's ID is an object of its own, so its result is theirs)."""
    hit: bool | None
    for condition in rule.conditions:
        if condition in PER_USER:
            hit = condition(event, context)
        else:
            key = (id(condition),)
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = condition(event, context)
        if not hit:
            return False
    return True


def result_of(actions: tuple[Any, ...] | list[Any]) -> PushResult:
    """What a rule's actions mean: a notification only with `notify`; `highlight` true when
    its tweak has no value; the historical `dont_notify` and `coalesce` do nothing."""
    if "notify" not in actions:
        return NO_NOTIFY
    tweaks = {
        a["set_tweak"]: a.get("value", _MISSING) for a in actions if isinstance(a, dict) and "set_tweak" in a
    }
    highlight = tweaks.get("highlight", False)
    sound = tweaks.get("sound")
    return PushResult(
        True,
        highlight is _MISSING or highlight is True,
        sound if isinstance(sound, str) else None,
    )


def compile_rule(
    kind: str, rule: Rule, shared: SharedConditions | None = None, owner: UserID | None = None
) -> CompiledRule:
    rule_id = str(rule.get("rule_id"))
    actions = tuple(rule.get("actions") or ())

    def build(key: Any, make: Callable[[], Condition]) -> Condition:
        if shared is None:
            return make()
        try:
            encoded = orjson.dumps([kind, key], option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # not JSON (cannot come from stored rules)
            return make()
        return shared.get(encoded, make)

    conditions: tuple[Condition, ...]
    sources: tuple[Any, ...]  # the JSON each condition is compiled from
    reads: tuple[Path | None, ...]
    if kind == "content":
        pattern = rule.get("pattern")
        conditions = (
            build(pattern, lambda: _event_match(BODY_PATH, pattern)) if isinstance(pattern, str) else _never,
        )
        sources, reads = (pattern,), (BODY_PATH,)
    elif kind == "room":
        conditions = (build(rule_id, lambda: lambda event, _: event.get("room_id") == rule_id),)
        sources, reads = (rule_id,), (("room_id",),)
    elif kind == "sender":
        conditions = (build(rule_id, lambda: lambda event, _: event.get("sender") == rule_id),)
        sources, reads = (rule_id,), (("sender",),)
    else:
        raw = rule.get("conditions", [])
        if isinstance(raw, list):
            conditions = tuple(build(c, partial(compile_condition, c)) for c in raw)
            sources, reads = tuple(raw), tuple(_reads(c) for c in raw)
        else:
            conditions, sources, reads = (_never,), (None,), (None,)
    owned = () if owner is None else tuple(names_user(s, owner, user_id_localpart(owner)) for s in sources)
    triggers = tuple(_trigger(kind, source) for source in sources)
    return CompiledRule(kind, rule_id, actions, conditions, owned, reads, triggers)


def _trigger(kind: str, source: Any) -> Trigger | None:
    """What the condition compiled from `source` needs in the event, when that is a word of
    the body or a value in a list (see `push.triggers`)."""
    if kind == "content":
        return Words(source) if isinstance(source, str) and is_literal(source) else None
    if kind in ("room", "sender") or not isinstance(source, dict):
        return None
    condition_kind, key = source.get("kind"), source.get("key")
    if condition_kind == "contains_display_name":
        return DISPLAY_NAME
    if not isinstance(key, str):
        return None
    pattern = source.get("pattern")
    if condition_kind == "event_match" and isinstance(pattern, str) and is_literal(pattern):
        return Words(pattern) if split_path(key) == BODY_PATH else None
    if condition_kind == "event_property_contains" and is_scalar(source.get("value", _MISSING)):
        return Contains(split_path(key), source["value"])
    return None


def _reads(condition: Any) -> Path | None:
    """The event property a condition is false without (the kinds that compare one), or None."""
    if not isinstance(condition, dict) or not isinstance(condition.get("key"), str):
        return None
    if condition.get("kind") in ("event_match", "event_property_is", "event_property_contains"):
        return split_path(condition["key"])
    return None


def compile_condition(condition: Any) -> Condition:
    """A condition as a function of (event, context); unknown or malformed ones never match."""
    if not isinstance(condition, dict):
        return _never
    kind, key = condition.get("kind"), condition.get("key")
    if kind == "event_match" and isinstance(key, str) and isinstance(condition.get("pattern"), str):
        return _event_match(split_path(key), condition["pattern"])
    if kind == "event_property_is" and isinstance(key, str) and is_scalar(condition.get("value", _MISSING)):
        return _property_is(split_path(key), condition["value"])
    if (
        kind == "event_property_contains"
        and isinstance(key, str)
        and is_scalar(condition.get("value", _MISSING))
    ):
        return _property_contains(split_path(key), condition["value"])
    if kind == "contains_display_name":
        return contains_display_name
    if kind == "room_member_count" and isinstance(condition.get("is"), str):
        return _member_count(condition["is"])
    if kind == "sender_notification_permission" and isinstance(key, str):
        return _sender_permission(key)
    return _never


def _never(event: Mapping[str, Any], context: PushContext) -> bool:
    return False


def split_path(key: str) -> tuple[str, ...]:
    """A dot-separated property path (spec appendix): `\\.` is a literal dot, `\\\\` a literal
    backslash; any other backslash is itself."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        char = key[i]
        if char == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return tuple(parts)


def lookup(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path`, or _MISSING."""
    value: Any = event
    for part in path:
        if type(value) is not dict and not isinstance(value, Mapping):  # dict: the fast path
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def has(event: Mapping[str, Any], path: Path) -> bool:
    return lookup(event, path) is not _MISSING


def _event_match(path: tuple[str, ...], pattern: str) -> Condition:
    glob = Glob(pattern)
    match = glob.matches_words if path == BODY_PATH else glob.matches

    def condition(event: Mapping[str, Any], context: PushContext) -> bool:
        value = lookup(event, path)
        return isinstance(value, str) and match(value)

    return condition


# Scalars compare exactly, with no casts (1 is not true, "1" is not 1): `wanted` is a scalar, so a
# value of its very type that equals it is one too.


def _property_is(path: tuple[str, ...], wanted: Any) -> Condition:
    kind = type(wanted)

    def condition(event: Mapping[str, Any], context: PushContext) -> bool:
        value = lookup(event, path)
        return type(value) is kind and value == wanted

    return condition


def _property_contains(path: tuple[str, ...], wanted: Any) -> Condition:
    kind = type(wanted)

    def condition(event: Mapping[str, Any], context: PushContext) -> bool:
        values = lookup(event, path)
        # `in` first (a scan in C, true also for 1 and true): a mention list names most users not.
        return (
            isinstance(values, list)
            and wanted in values
            and any(type(value) is kind and value == wanted for value in values)
        )

    return condition


def contains_display_name(event: Mapping[str, Any], context: PushContext) -> bool:
    return display_name_in(lookup(event, BODY_PATH), context.display_name)


def display_name_in(body: Any, name: str | None) -> bool:
    """The contains_display_name condition for a `content.body` value."""
    return bool(name) and isinstance(body, str) and contains_words(body, name or "")


def _member_count(spec: str) -> Condition:
    parsed = MEMBER_COUNT.fullmatch(spec)
    if parsed is None:
        return _never
    operator, number = parsed.group(1) or "==", int(parsed.group(2))
    compare: Callable[[int], bool] = {
        "==": lambda n: n == number,
        "<": lambda n: n < number,
        ">": lambda n: n > number,
        "<=": lambda n: n <= number,
        ">=": lambda n: n >= number,
    }[operator]
    return lambda _, context: compare(context.member_count)


def _sender_permission(key: str) -> Condition:
    def condition(event: Mapping[str, Any], context: PushContext) -> bool:
        sender = event.get("sender")
        if not isinstance(sender, str):
            return False
        version = context.room_version
        needed = notification_level(key, power_levels=context.power_levels, version=version)
        level = user_power_level(
            sender, create=context.create, power_levels=context.power_levels, version=version
        )
        return level >= needed

    return condition


# Conditions whose result depends on the user the event is evaluated for.
PER_USER: Final = frozenset({contains_display_name})
