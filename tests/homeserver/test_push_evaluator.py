"""The push rule evaluator against the spec's default rules, conditions and actions
(spec: "Push Notifications", "Mentioning"), table-driven from the spec's examples."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from homeserver.events.model import Event
from homeserver.ids import EventID, UserID
from homeserver.push.evaluator import (
    NO_NOTIFY,
    PushContext,
    PushEvaluator,
    PushResult,
    compile_condition,
    result_of,
    split_path,
)
from homeserver.push.glob import Glob
from homeserver.push.rules import (
    DEFAULT_RULES,
    KINDS,
    UserRules,
    default_rules_for,
    user_rules_from_ruleset,
)
from homeserver.room_versions import KNOWN_ROOM_VERSIONS

V11, V12 = KNOWN_ROOM_VERSIONS["11"], KNOWN_ROOM_VERSIONS["12"]
ALICE = UserID("@alice:example.org")  # whose rules are evaluated
BOB = "@bob:example.org"  # an ordinary member (power 0)
MOD = "@mod:example.org"  # a moderator (power 50)
ROOM = "!room:example.org"
OTHER_ROOM = "!other:example.org"


def state_event(event_type: str, sender: str, content: dict[str, Any], version: Any = V11) -> Event:
    pdu = {"type": event_type, "state_key": "", "sender": sender, "room_id": ROOM, "content": content}
    return Event(EventID(f"${event_type}"), version, pdu)


POWER_LEVELS = state_event("m.room.power_levels", ALICE, {"users": {ALICE: 100, MOD: 50}})
CONTEXT = PushContext(
    user_id=ALICE,
    room_version=V11,
    member_count=5,
    display_name="Alice Liddell",
    power_levels=POWER_LEVELS,
    create=state_event("m.room.create", ALICE, {"room_version": "11"}),
)


def message(body: str = "hello", sender: str = BOB, /, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "sender": sender,
        "room_id": ROOM,
        "event_id": "$m",
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def event(event_type: str, content: dict[str, Any], sender: str = BOB, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "sender": sender, "room_id": ROOM, "content": content, **fields}


DEFAULTS = PushEvaluator(default_rules_for(ALICE))
HIGHLIGHT_SOUND = PushResult(True, True, "default")

# (name, event, context, expected result, the rule that decides)
DEFAULT_RULE_CASES: list[tuple[str, dict[str, Any], PushContext, PushResult, str | None]] = [
    ("plain message in a group room", message(), CONTEXT, PushResult(True, False, None), ".m.rule.message"),
    (
        "m.mentions names the user",
        message("hi", **{"m.mentions": {"user_ids": [ALICE]}}),
        CONTEXT,
        HIGHLIGHT_SOUND,
        ".m.rule.is_user_mention",
    ),
    (
        "m.mentions names someone else",
        message("hi", **{"m.mentions": {"user_ids": [BOB]}}),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.message",
    ),
    (
        "legacy: display name in the body",
        message("hey alice liddell, lunch?"),
        CONTEXT,
        HIGHLIGHT_SOUND,
        ".m.rule.contains_display_name",
    ),
    (
        "legacy rules are off when m.mentions is present",
        message("hey Alice Liddell, lunch?", **{"m.mentions": {}}),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.message",
    ),
    (
        "display name only inside a word",
        message("xAlice Liddellx"),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.message",
    ),
    (
        "legacy: localpart in the body",
        message("ALICE: are you there?"),
        CONTEXT,
        HIGHLIGHT_SOUND,
        ".m.rule.contains_user_name",
    ),
    (
        "localpart inside a word is no mention",
        message("malice aforethought"),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.message",
    ),
    (
        "@room by a user with enough power",
        message("@room lunch", MOD, **{"m.mentions": {"room": True}}),
        CONTEXT,
        PushResult(True, True, None),
        ".m.rule.is_room_mention",
    ),
    (
        "@room by a user without enough power",
        message("@room lunch", BOB, **{"m.mentions": {"room": True}}),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.message",
    ),
    (
        "m.mentions.room must be exactly true",
        message("@room lunch", MOD, **{"m.mentions": {"room": "true"}}),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.message",
    ),
    (
        "legacy: @room in the body by a moderator",
        message("@room lunch", MOD),
        CONTEXT,
        PushResult(True, True, None),
        ".m.rule.roomnotif",
    ),
    (
        "@room allowed to everybody by notifications.room = 0",
        message("@room", BOB, **{"m.mentions": {"room": True}}),
        replace(
            CONTEXT, power_levels=state_event("m.room.power_levels", ALICE, {"notifications": {"room": 0}})
        ),
        PushResult(True, True, None),
        ".m.rule.is_room_mention",
    ),
    (
        "a 1:1 room",
        message(),
        replace(CONTEXT, member_count=2),
        PushResult(True, False, "default"),
        ".m.rule.room_one_to_one",
    ),
    (
        "encrypted in a 1:1 room",
        event("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}),
        replace(CONTEXT, member_count=2),
        PushResult(True, False, "default"),
        ".m.rule.encrypted_room_one_to_one",
    ),
    (
        "encrypted in a group room",
        event("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}),
        CONTEXT,
        PushResult(True, False, None),
        ".m.rule.encrypted",
    ),
    (
        "an edit is suppressed",
        message("* fixed", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$m"}}),
        replace(CONTEXT, member_count=2),
        NO_NOTIFY,
        ".m.rule.suppress_edits",
    ),
    (
        "an edit that mentions is still suppressed",
        message(
            "* hi",
            **{
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$m"},
                "m.new_content": {"body": "hi", "m.mentions": {"user_ids": [ALICE]}},
                "m.mentions": {},
            },
        ),
        CONTEXT,
        NO_NOTIFY,
        ".m.rule.suppress_edits",
    ),
    (
        "an m.notice is suppressed",
        message("bot says Alice Liddell", msgtype="m.notice"),
        CONTEXT,
        NO_NOTIFY,
        ".m.rule.suppress_notices",
    ),
    (
        "an invite for me",
        event("m.room.member", {"membership": "invite"}, state_key=ALICE),
        CONTEXT,
        PushResult(True, False, "default"),
        ".m.rule.invite_for_me",
    ),
    (
        "an invite for someone else",
        event("m.room.member", {"membership": "invite"}, state_key="@carol:example.org"),
        CONTEXT,
        NO_NOTIFY,
        ".m.rule.member_event",
    ),
    (
        "a tombstone",
        event("m.room.tombstone", {"body": "moved", "replacement_room": OTHER_ROOM}, state_key=""),
        CONTEXT,
        PushResult(True, True, None),
        ".m.rule.tombstone",
    ),
    (
        "a tombstone type without a state key is not a tombstone",
        event("m.room.tombstone", {"body": "moved"}),
        CONTEXT,
        NO_NOTIFY,
        None,
    ),
    ("a reaction", event("m.reaction", {}), CONTEXT, NO_NOTIFY, ".m.rule.reaction"),
    (
        "a server ACL change",
        event("m.room.server_acl", {"allow": ["*"]}, state_key=""),
        CONTEXT,
        NO_NOTIFY,
        ".m.rule.room.server_acl",
    ),
    (
        "a call",
        event("m.call.invite", {"call_id": "c", "version": "1"}),
        CONTEXT,
        PushResult(True, False, "ring"),
        ".m.rule.call",
    ),
    ("an unknown event type", event("org.example.thing", {"body": "x"}), CONTEXT, NO_NOTIFY, None),
    (
        "the user's own message, even mentioning themselves",
        message("me", str(ALICE), **{"m.mentions": {"user_ids": [ALICE]}}),
        CONTEXT,
        NO_NOTIFY,
        None,
    ),
]


@pytest.mark.parametrize(
    ("event", "context", "expected", "rule_id"),
    [case[1:] for case in DEFAULT_RULE_CASES],
    ids=[case[0] for case in DEFAULT_RULE_CASES],
)
def test_default_rules(
    event: dict[str, Any], context: PushContext, expected: PushResult, rule_id: str | None
) -> None:
    match = DEFAULTS.first_match(event, context)
    assert (match.rule_id if match else None) == rule_id
    assert DEFAULTS.evaluate(event, context) == expected


def test_an_event_object_is_evaluated_like_its_dict() -> None:
    pdu = {**message(**{"m.mentions": {"user_ids": [ALICE]}}), "depth": 3, "prev_events": []}
    assert DEFAULTS.evaluate(Event(EventID("$e"), V11, pdu), CONTEXT) == HIGHLIGHT_SOUND


def with_changes(**changes: Any) -> PushEvaluator:
    """The defaults with rule changes: {rule_id: {"enabled": ..., "actions": ...}}."""
    ruleset = default_rules_for(ALICE)
    for rules in ruleset.values():
        for rule in rules:
            rule.update(changes.get(rule["rule_id"], {}))
    return PushEvaluator(ruleset)


@pytest.mark.parametrize("case", DEFAULT_RULE_CASES, ids=[c[0] for c in DEFAULT_RULE_CASES])
def test_the_master_rule_silences_everything(case: tuple[Any, ...]) -> None:
    _, event, context, _, _ = case
    evaluator = with_changes(**{".m.rule.master": {"enabled": True}})
    match = evaluator.first_match(event, context)
    if event["sender"] != ALICE:
        assert match is not None and match.rule_id == ".m.rule.master"
    assert evaluator.evaluate(event, context) == NO_NOTIFY


def test_disabled_rules_never_match_and_actions_can_change() -> None:
    mention = message("hi", **{"m.mentions": {"user_ids": [ALICE]}})
    evaluator = with_changes(**{".m.rule.is_user_mention": {"enabled": False}})
    assert evaluator.evaluate(mention, CONTEXT) == PushResult(True, False, None)  # .m.rule.message
    quiet = with_changes(**{".m.rule.message": {"actions": []}})
    assert quiet.evaluate(message(), CONTEXT) == NO_NOTIFY
    assert quiet.evaluate(mention, CONTEXT) == HIGHLIGHT_SOUND


def user_ruleset(**custom: list[dict[str, Any]]) -> PushEvaluator:
    rules = UserRules(custom={kind: tuple(custom.get(kind, [])) for kind in KINDS})
    return PushEvaluator(rules.render(ALICE))


def own(rule_id: str, actions: list[Any], **rest: Any) -> dict[str, Any]:
    return {"rule_id": rule_id, "default": False, "enabled": True, "actions": actions, **rest}


def test_room_rule_mutes_a_room_but_mentions_still_highlight() -> None:
    """Element's "mentions and keywords only": a room rule with no actions."""
    evaluator = user_ruleset(room=[own(ROOM, [])])
    assert evaluator.evaluate(message(), CONTEXT) == NO_NOTIFY
    assert evaluator.evaluate({**message(), "room_id": OTHER_ROOM}, CONTEXT) == PushResult(True, False, None)
    mention = message("hi", **{"m.mentions": {"user_ids": [ALICE]}})
    assert evaluator.evaluate(mention, CONTEXT) == HIGHLIGHT_SOUND


def test_override_rule_mutes_a_room_entirely() -> None:
    """Element's "mute": an override rule on room_id, above the mention rules."""
    evaluator = user_ruleset(
        override=[own(ROOM, [], conditions=[{"kind": "event_match", "key": "room_id", "pattern": ROOM}])]
    )
    mention = message("hi", **{"m.mentions": {"user_ids": [ALICE]}})
    assert evaluator.evaluate(mention, CONTEXT) == NO_NOTIFY
    assert evaluator.evaluate({**mention, "room_id": OTHER_ROOM}, CONTEXT) == HIGHLIGHT_SOUND


def test_sender_and_content_rules() -> None:
    cake = own("cake", ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}], pattern="cake")
    lie = own("lie", ["notify"], pattern="cake*lie")
    evaluator = user_ruleset(content=[lie, cake], sender=[own(BOB, [])])
    assert evaluator.evaluate(message("the cake is a lie", "@carol:example.org"), CONTEXT) == PushResult(
        True, False, None
    )
    assert evaluator.evaluate(message("Cake!", "@carol:example.org"), CONTEXT) == PushResult(
        True, False, "cakealarm.wav"
    )
    assert evaluator.evaluate(message("cakes", "@carol:example.org"), CONTEXT) == PushResult(
        True, False, None
    )
    assert evaluator.evaluate(message("hi"), CONTEXT) == NO_NOTIFY  # bob's sender rule
    assert evaluator.evaluate(message("cake"), CONTEXT).sound == "cakealarm.wav"  # content before sender


def test_user_override_sits_below_master_and_above_the_default_overrides() -> None:
    loud_notices = own(
        "notices",
        ["notify"],
        conditions=[{"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}],
    )
    rules = UserRules(custom={**{k: () for k in KINDS}, "override": (loud_notices,)})
    override = rules.render(ALICE)["override"]
    assert [r["rule_id"] for r in override[:3]] == [".m.rule.master", "notices", ".m.rule.suppress_notices"]
    notice = message("beep", msgtype="m.notice")
    assert PushEvaluator(rules.render(ALICE)).evaluate(notice, CONTEXT) == PushResult(True, False, None)


# Conditions, one table per kind: (condition, event, context changes, matches)

TOPIC = {"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}
BODY = {"kind": "event_match", "key": "content.body", "pattern": "ex*ple"}
FEDERATE = {"kind": "event_property_is", "key": "content.m\\.federate", "value": True}
ALIASES = {"kind": "event_property_contains", "key": "content.alt_aliases", "value": "#myroom:example.com"}


def topic(value: Any) -> dict[str, Any]:
    return event("m.room.topic", {"topic": value}, state_key="")


def body(value: Any) -> dict[str, Any]:
    return event("m.room.message", {"body": value})


def content(**values: Any) -> dict[str, Any]:
    return event("m.room.create", values, state_key="")


CONDITION_CASES: list[tuple[str, Any, dict[str, Any], dict[str, Any], bool]] = [
    ("glob: spec example", TOPIC, topic("Lunch plans"), {}, True),
    ("glob: case-insensitive, * matches nothing", TOPIC, topic("LUNCH"), {}, True),
    ("glob: leading space", TOPIC, topic(" lunch"), {}, False),
    ("glob: ? needs a character", TOPIC, topic("lunc"), {}, False),
    ("glob: null is not a string", TOPIC, topic(None), {}, False),
    ("glob: * does not match an absent key", {**TOPIC, "pattern": "*"}, event("m.room.topic", {}), {}, False),
    ("glob: * does not match a number", {**TOPIC, "pattern": "*"}, topic(5), {}, False),
    ("glob: * matches the empty string", {**TOPIC, "pattern": "*"}, topic(""), {}, True),
    ("glob: whole value only", {**TOPIC, "pattern": "lunch"}, topic("lunch plans"), {}, False),
    ("glob: other characters are literal", {**TOPIC, "pattern": "a[b].c+"}, topic("A[B].C+"), {}, True),
    ("glob: . is literal", {**TOPIC, "pattern": "a.c"}, topic("abc"), {}, False),
    ("glob: * spans newlines", {**TOPIC, "pattern": "a*b"}, topic("a\n\nb"), {}, True),
    ("glob: several stars", {**TOPIC, "pattern": "*a*b*c"}, topic("xxaxxbxxbxc"), {}, True),
    ("glob: last part pinned to the end", {**TOPIC, "pattern": "a*bc"}, topic("abcx"), {}, False),
    ("glob: parts may not overlap", {**TOPIC, "pattern": "ab*ba"}, topic("aba"), {}, False),
    ("body: spec example", BODY, body("An example event."), {}, True),
    ("body: the whole body", BODY, body("exple"), {}, True),
    ("body: across words, - separates", BODY, body("An exciting triple-whammy"), {}, True),
    ("body: must end at a word boundary", BODY, body("examples"), {}, False),
    ("body: must start at a word boundary", BODY, body("reexample"), {}, False),
    ("body: a later end may be at a boundary", BODY, body("example_x example"), {}, True),
    ("body: _ is a word character", {**BODY, "pattern": "cake"}, body("cake_lie"), {}, False),
    ("body: non-ASCII letters are boundaries", {**BODY, "pattern": "cake"}, body("écakeé"), {}, True),
    ("body: ? in a word", {**BODY, "pattern": "c?ke"}, body("I like COKE."), {}, True),
    ("body: a non-string body", {**BODY, "pattern": "*"}, body(["x"]), {}, False),
    (
        "path: an escaped dot",
        {"kind": "event_match", "key": "content.m\\.relates_to.rel_type", "pattern": "m.thread"},
        event("m.room.message", {"m.relates_to": {"rel_type": "m.thread"}}),
        {},
        True,
    ),
    (
        "path: an unescaped dot is a level",
        {"kind": "event_match", "key": "content.m.relates_to.rel_type", "pattern": "m.thread"},
        event("m.room.message", {"m.relates_to": {"rel_type": "m.thread"}}),
        {},
        False,
    ),
    (
        "path: an escaped backslash",
        {"kind": "event_match", "key": "content.m\\\\foo", "pattern": "x"},
        event("m.room.message", {"m\\foo": "x"}),
        {},
        True,
    ),
    ("is: spec example", FEDERATE, content(**{"m.federate": True}), {}, True),
    ("is: a string is not a boolean", FEDERATE, content(**{"m.federate": "true"}), {}, False),
    ("is: 1 is not true", FEDERATE, content(**{"m.federate": 1}), {}, False),
    ("is: true is not 1", {**FEDERATE, "value": 1}, content(**{"m.federate": True}), {}, False),
    ("is: integers", {**FEDERATE, "value": 1}, content(**{"m.federate": 1}), {}, True),
    ("is: null", {**FEDERATE, "value": None}, content(**{"m.federate": None}), {}, True),
    ("is: null is not absent", {**FEDERATE, "value": None}, content(), {}, False),
    ("is: objects never match", {**FEDERATE, "value": None}, content(**{"m.federate": {}}), {}, False),
    ("is: no floats", {**FEDERATE, "value": 1}, content(**{"m.federate": 1.0}), {}, False),
    ("is: integers past 2**53", {**FEDERATE, "value": 2**53}, content(**{"m.federate": 2**53}), {}, False),
    ("is: strings exactly", {**FEDERATE, "value": "A"}, content(**{"m.federate": "a"}), {}, False),
    (
        "contains: spec example",
        ALIASES,
        content(alt_aliases=["#somewhere:example.org", "#myroom:example.com"]),
        {},
        True,
    ),
    ("contains: partial values", ALIASES, content(alt_aliases=[":example.com"]), {}, False),
    ("contains: not an array", ALIASES, content(alt_aliases="#myroom:example.com"), {}, False),
    ("contains: absent", ALIASES, content(), {}, False),
    (
        "contains: true is not 1",
        {**ALIASES, "value": 1},
        content(alt_aliases=[True, [1], {"a": 1}]),
        {},
        False,
    ),
    ("contains: integers", {**ALIASES, "value": 1}, content(alt_aliases=[True, 1]), {}, True),
    ("display name: a word", {"kind": "contains_display_name"}, body("ok Alice liddell!"), {}, True),
    ("display name: inside a word", {"kind": "contains_display_name"}, body("Alice Liddells"), {}, False),
    (
        "display name: none set",
        {"kind": "contains_display_name"},
        body("Alice Liddell"),
        {"display_name": None},
        False,
    ),
    ("display name: empty", {"kind": "contains_display_name"}, body("hi"), {"display_name": ""}, False),
    (
        "display name: glob characters are literal",
        {"kind": "contains_display_name"},
        body("hey a*b"),
        {"display_name": "a*b"},
        True,
    ),
    ("display name: no body", {"kind": "contains_display_name"}, event("m.room.message", {}), {}, False),
    (
        "sender permission: 50 of a default 50",
        {"kind": "sender_notification_permission", "key": "room"},
        message("hello", MOD),
        {},
        True,
    ),
    (
        "sender permission: 0 of a default 50",
        {"kind": "sender_notification_permission", "key": "room"},
        message("hello", BOB),
        {},
        False,
    ),
    (
        "sender permission: notifications.room raised",
        {"kind": "sender_notification_permission", "key": "room"},
        message("hello", MOD),
        {
            "power_levels": state_event(
                "m.room.power_levels", ALICE, {"users": {MOD: 50}, "notifications": {"room": 51}}
            )
        },
        False,
    ),
    (
        "sender permission: other keys default to 50",
        {"kind": "sender_notification_permission", "key": "org.example"},
        message("hello", MOD),
        {},
        True,
    ),
    (
        "sender permission: creator without power levels (v11)",
        {"kind": "sender_notification_permission", "key": "room"},
        message("hello", ALICE),
        {"power_levels": None},
        True,
    ),
    (
        "sender permission: others without power levels",
        {"kind": "sender_notification_permission", "key": "room"},
        message("hello", MOD),
        {"power_levels": None},
        False,
    ),
    (
        "sender permission: v12 creators have infinite power",
        {"kind": "sender_notification_permission", "key": "room"},
        message("hello", BOB),
        {
            "room_version": V12,
            "create": state_event("m.room.create", BOB, {"room_version": "12"}, V12),
            "power_levels": state_event("m.room.power_levels", BOB, {"notifications": {"room": 10**9}}, V12),
        },
        True,
    ),
    ("unknown kinds never match", {"kind": "org.example.always"}, message(), {}, False),
    ("event_match without a pattern", {"kind": "event_match", "key": "type"}, message(), {}, False),
    ("event_property_is without a value", {"kind": "event_property_is", "key": "type"}, message(), {}, False),
    ("not an object", "event_match", message(), {}, False),
]

MEMBER_COUNTS = [
    ("2", 2, True),
    ("2", 3, False),
    ("==2", 2, True),
    ("==2", 1, False),
    ("<2", 1, True),
    ("<2", 2, False),
    (">2", 3, True),
    (">2", 2, False),
    ("<=2", 2, True),
    ("<=2", 3, False),
    (">=3", 3, True),
    (">=3", 2, False),
    ("=2", 2, False),
    ("two", 2, False),
    ("", 0, False),
    (" 2", 2, False),
]
CONDITION_CASES += [
    (
        f"member count {spec!r} with {count}",
        {"kind": "room_member_count", "is": spec},
        message(),
        {"member_count": count},
        matches,
    )
    for spec, count, matches in MEMBER_COUNTS
]


@pytest.mark.parametrize(
    ("condition", "event", "changes", "matches"),
    [case[1:] for case in CONDITION_CASES],
    ids=[case[0] for case in CONDITION_CASES],
)
def test_conditions(condition: Any, event: dict[str, Any], changes: dict[str, Any], matches: bool) -> None:
    assert compile_condition(condition)(event, replace(CONTEXT, **changes)) is matches


def test_globs_do_not_backtrack_badly() -> None:
    """A user's pattern must not cost more than (value x pattern) to match."""
    value = "a" * 20_000
    assert not Glob("*a*a*a*a*a*a*a*a*a*a*b").matches(value)
    assert not Glob("a*a*a*a*a*a*a*a*a*a*b").matches_words(value)
    assert not Glob("a*b").matches_words(" ".join(["a"] * 10_000))
    assert Glob("*a*a*a*a*a*a*a*a*a*a*a").matches(value)


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("content.body", ("content", "body")),
        ("content.m\\.relates_to.rel_type", ("content", "m.relates_to", "rel_type")),
        ("content.m\\\\foo", ("content", "m\\foo")),
        ("content.m\\xfoo", ("content", "m\\xfoo")),
        ("a\\\\.b", ("a\\", "b")),
        ("trailing\\", ("trailing\\",)),
        ("", ("",)),
    ],
)
def test_dot_separated_paths(key: str, path: tuple[str, ...]) -> None:
    assert split_path(key) == path


ACTIONS = [
    (["notify"], PushResult(True, False, None)),
    (["notify", {"set_tweak": "highlight"}], PushResult(True, True, None)),
    (["notify", {"set_tweak": "highlight", "value": True}], PushResult(True, True, None)),
    (["notify", {"set_tweak": "highlight", "value": False}], PushResult(True, False, None)),
    (["notify", {"set_tweak": "sound", "value": "default"}], PushResult(True, False, "default")),
    (["notify", {"set_tweak": "org.example.light", "value": "red"}], PushResult(True, False, None)),
    ([{"set_tweak": "highlight"}, {"set_tweak": "sound", "value": "default"}], NO_NOTIFY),
    ([], NO_NOTIFY),
    (["dont_notify"], NO_NOTIFY),
    (["coalesce", "notify"], PushResult(True, False, None)),
    (["dont_notify", "notify", {"set_tweak": "highlight"}], PushResult(True, True, None)),
]


@pytest.mark.parametrize(("actions", "expected"), ACTIONS)
def test_actions(actions: list[Any], expected: PushResult) -> None:
    assert result_of(actions) == expected


def test_default_rules_in_the_spec_order_with_the_user_substituted() -> None:
    ruleset = default_rules_for(ALICE)
    assert [r["rule_id"] for r in ruleset["override"]] == [
        ".m.rule.master",
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.contains_display_name",
        ".m.rule.is_room_mention",
        ".m.rule.roomnotif",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ]
    assert [r["rule_id"] for r in ruleset["content"]] == [".m.rule.contains_user_name"]
    assert ruleset["room"] == [] and ruleset["sender"] == []
    assert [r["rule_id"] for r in ruleset["underride"]] == [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ]
    assert ruleset["override"][0] == {
        "rule_id": ".m.rule.master",
        "default": True,
        "enabled": False,
        "conditions": [],
        "actions": [],
    }
    invite = ruleset["override"][2]["conditions"]
    assert {"kind": "event_match", "key": "state_key", "pattern": ALICE} in invite
    mention = ruleset["override"][4]["conditions"]
    assert mention == [
        {"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": ALICE}
    ]
    assert ruleset["content"][0]["pattern"] == "alice"
    every = [rule for rules in ruleset.values() for rule in rules]
    assert all(r["default"] is True and r["rule_id"].startswith(".") for r in every)
    assert all(r["enabled"] is True for r in every if r["rule_id"] != ".m.rule.master")


def test_defaults_are_copied_per_user() -> None:
    pristine = copy.deepcopy(DEFAULT_RULES)
    ruleset = default_rules_for(ALICE)
    ruleset["override"][0]["actions"].append("notify")
    assert default_rules_for(UserID("@bob:example.org"))["override"][2]["conditions"][2]["pattern"] == BOB
    assert DEFAULT_RULES == pristine


def test_rendered_rules_read_back_to_the_same_user_rules() -> None:
    rules = UserRules(
        custom={
            **{k: () for k in KINDS},
            "room": (own(ROOM, []),),
            "content": (own("c", ["notify"], pattern="x"),),
        },
        defaults={
            ("override", ".m.rule.master"): {"enabled": True},
            ("underride", ".m.rule.message"): {"actions": []},
        },
    )
    assert user_rules_from_ruleset(rules.render(ALICE)) == rules
    assert user_rules_from_ruleset(UserRules().render(ALICE)) == UserRules()


@pytest.mark.parametrize(
    "stored",
    [None, [], "x", {"override": "x"}, {"override": [1, {"rule_id": 5}, {"rule_id": "a", "enabled": True}]}],
)
def test_malformed_stored_rules_are_dropped(stored: Any) -> None:
    assert user_rules_from_ruleset(stored) == UserRules()
