"""`EventMatcher` (one event evaluated for every member it reaches) gives each user exactly the
rule their own evaluator gives alone, whatever their rules, names and the event; and a user
whose rules and personal results were already seen for the event costs no evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from homeserver.events.model import Event
from homeserver.ids import EventID, UserID
from homeserver.push.bulk import EventMatcher, RoomContext
from homeserver.push.evaluator import (
    CompiledRule,
    PushContext,
    PushEvaluator,
    SharedConditions,
    compile_condition,
)
from homeserver.push.glob import Glob, _words_pattern, contains_words
from homeserver.push.rules import KINDS, Rule, Ruleset, UserRules, default_rules_for
from tests.homeserver.test_push_evaluator import BOB, MOD, OTHER_ROOM, POWER_LEVELS, ROOM, V11, V12, own

ALICE = UserID("@alice:example.org")
ROOM_USER = UserID("@room:example.org")  # a local part that is also a condition's key
PLAIN = [UserID(f"@user{n}:example.org") for n in range(6)]


def _ruleset(user_id: UserID, **custom: list[Rule]) -> Ruleset:
    return UserRules(custom={kind: tuple(custom.get(kind, [])) for kind in KINDS}).render(user_id)


def _changed(user_id: UserID, **changes: dict[str, Any]) -> Ruleset:
    ruleset = default_rules_for(user_id)
    for rules in ruleset.values():
        for rule in rules:
            rule.update(changes.get(rule["rule_id"], {}))
    return ruleset


def _room_is(room_id: str) -> dict[str, str]:
    return {"kind": "event_match", "key": "room_id", "pattern": room_id}


def _users() -> dict[UserID, tuple[Ruleset, str | None]]:
    """Who the event reaches: their rules and their display name in the room."""
    u = {
        name: UserID(f"@{name}:example.org")
        for name in ("carol", "dave", "erin", "frank", "gina", "hal", "ivan", "jan", "kim", "lee")
    }
    users: dict[UserID, tuple[Ruleset, str | None]] = {
        user: (default_rules_for(user), name)
        for user, name in zip(PLAIN, ["Sam", "Sam", "sam smith", None, "", "User0"], strict=True)
    }
    users[ALICE] = (default_rules_for(ALICE), "Alice Liddell")
    users[ROOM_USER] = (default_rules_for(ROOM_USER), "Room")
    users[u["carol"]] = (_ruleset(u["carol"], room=[own(ROOM, [])]), "Carol")  # the room muted
    users[u["ivan"]] = (_ruleset(u["ivan"], room=[own(OTHER_ROOM, [])]), "Ivan")  # another room muted
    users[u["dave"]] = (  # muted entirely with an override, and a rule about himself
        _ruleset(
            u["dave"],
            override=[
                own("mute", [], conditions=[_room_is(ROOM)]),
                own(
                    "me",
                    ["notify"],
                    conditions=[{"kind": "event_match", "key": "content.body", "pattern": f"*{u['dave']}*"}],
                ),
            ],
        ),
        "Dave",
    )
    users[u["erin"]] = (  # a keyword, a loud sender, and her own underride
        _ruleset(
            u["erin"],
            content=[own("lunch", ["notify", {"set_tweak": "highlight"}], pattern="lunch")],
            sender=[own(BOB, ["notify", {"set_tweak": "sound", "value": "bob"}])],
            underride=[
                own(
                    "reactions",
                    ["notify"],
                    conditions=[{"kind": "event_match", "key": "type", "pattern": "m.reaction"}],
                )
            ],
        ),
        "Erin",
    )
    # The same rule, once with a condition about the user (their local part) and once without.
    focus = own("focus", ["notify", {"set_tweak": "highlight"}], conditions=[_room_is(OTHER_ROOM)])
    users[u["jan"]] = (_ruleset(u["jan"], override=[focus]), "Jan")
    kim_body = {"kind": "event_match", "key": "content.body", "pattern": "kim"}
    users[u["kim"]] = (
        _ruleset(u["kim"], override=[{**focus, "conditions": [_room_is(OTHER_ROOM), kim_body]}]),
        "K",
    )
    lee_invited = {"kind": "event_match", "key": "state_key", "pattern": u["lee"]}  # another property
    users[u["lee"]] = (
        _ruleset(u["lee"], override=[{**focus, "conditions": [_room_is(OTHER_ROOM), lee_invited]}]),
        "L",
    )
    users[u["frank"]] = (_changed(u["frank"], **{".m.rule.message": {"actions": []}}), "Frank")
    users[u["gina"]] = (_changed(u["gina"], **{".m.rule.is_user_mention": {"enabled": False}}), "Gina")
    users[u["hal"]] = (_changed(u["hal"], **{".m.rule.master": {"enabled": True}}), "Hal")
    return users


USERS = _users()
NAMES = [name for _, name in USERS.values() if name] + ["@room", "lunch", "user1", "dave", "ROOM", "Kim"]
SENDERS = [BOB, MOD, ALICE, PLAIN[0], "@dave:example.org", "@erin:example.org"]


def _rooms() -> list[RoomContext]:
    create = Event(
        EventID("$create"), V12, {"type": "m.room.create", "state_key": "", "sender": MOD, "content": {}}
    )
    return [
        RoomContext(V11, 5, POWER_LEVELS, None),
        RoomContext(V11, 2, POWER_LEVELS, None),  # a 1:1 room
        RoomContext(V11, 12, None, None),  # no power levels: everyone may @room
        RoomContext(V12, 3, POWER_LEVELS, create),  # MOD created it: infinite power
    ]


def _event(pdu: dict[str, Any]) -> Event:
    return Event(EventID("$e"), V11, {"room_id": ROOM, "sender": BOB, **pdu})


@st.composite
def events(draw: st.DrawFn) -> Event:
    """Messages, notices, encrypted events, invites, reactions, edits, calls and tombstones,
    with bodies naming members, m.mentions present or absent, from members or not."""
    kind = draw(st.sampled_from(["message", "message", "message", "encrypted", "invite", "other"]))
    sender = draw(st.sampled_from(SENDERS))
    room_id = draw(st.sampled_from([ROOM, OTHER_ROOM]))
    if kind == "invite":
        target = draw(st.sampled_from(list(USERS)))
        membership = draw(st.sampled_from(["invite", "join"]))
        content: dict[str, Any] = {"membership": membership}
        return _event(
            {
                "type": "m.room.member",
                "state_key": target,
                "sender": sender,
                "room_id": room_id,
                "content": content,
            }
        )
    if kind == "encrypted":
        return _event(
            {"type": "m.room.encrypted", "sender": sender, "room_id": room_id, "content": {"ciphertext": "x"}}
        )
    if kind == "other":
        event_type = draw(
            st.sampled_from(["m.reaction", "m.call.invite", "m.room.tombstone", "m.room.server_acl"])
        )
        state = {"state_key": ""} if event_type in ("m.room.tombstone", "m.room.server_acl") else {}
        return _event({"type": event_type, "sender": sender, "room_id": room_id, "content": {}, **state})
    words = draw(st.lists(st.sampled_from([*NAMES, *USERS, "hello", "@room:"]), max_size=3))
    content = {
        "msgtype": draw(st.sampled_from(["m.text", "m.text", "m.notice"])),
        "body": " ".join(words) + "!",
    }
    mentions = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "user_ids": st.lists(st.sampled_from(list(USERS)), max_size=2),
                    "room": st.booleans(),
                },
            ),
        )
    )
    if mentions is not None:
        content["m.mentions"] = mentions
    if draw(st.booleans()) and draw(st.booleans()):
        content["m.relates_to"] = {"rel_type": "m.replace", "event_id": "$x"}
    return _event({"type": "m.room.message", "sender": sender, "room_id": room_id, "content": content})


def _alone(user_id: UserID, event: Event, room: RoomContext) -> CompiledRule | None:
    """What the user's rules give on their own: no shared conditions, no memo."""
    ruleset, name = USERS[user_id]
    context = PushContext(user_id, room.room_version, room.member_count, name, room.power_levels, room.create)
    return PushEvaluator(ruleset).first_match(event, context)


def _evaluators(shared: SharedConditions) -> dict[UserID, PushEvaluator]:
    return {user: PushEvaluator(ruleset, shared, owner=user) for user, (ruleset, _) in USERS.items()}


SHARED = SharedConditions()
EVALUATORS = _evaluators(SHARED)


@settings(max_examples=300, deadline=None)
@given(event=events(), room=st.sampled_from(_rooms()), reverse=st.booleans())
def test_every_user_gets_the_rule_their_own_rules_give(
    event: Event, room: RoomContext, reverse: bool
) -> None:
    matcher = EventMatcher(event, room)
    order = list(USERS)[::-1] if reverse else list(USERS)
    for user_id in order:
        evaluator = EVALUATORS[user_id]
        got = matcher.first_match(user_id, evaluator, USERS[user_id][1])
        alone = _alone(user_id, event, room)
        assert (got.rule_id if got else None) == (alone.rule_id if alone else None), user_id
        assert (got.actions if got else None) == (alone.actions if alone else None), user_id
        assert got is None or got in evaluator.rules  # the user's own compiled rule


def test_the_users_own_events_never_match() -> None:
    matcher = EventMatcher(
        _event({"type": "m.room.message", "sender": ALICE, "content": {"body": "@room"}}), _rooms()[0]
    )
    assert matcher.first_match(ALICE, EVALUATORS[ALICE], "Alice Liddell") is None
    assert matcher.first_match(PLAIN[0], EVALUATORS[PLAIN[0]], "Sam") is not None


def _counted(shared: SharedConditions, kind: str, condition: dict[str, Any], calls: list[str]) -> None:
    """Seeds `shared` with a condition that records its calls, as compile_rule keys it."""
    key = orjson.dumps([kind, condition], option=orjson.OPT_SORT_KEYS).decode()
    real = compile_condition(condition)

    def counted(event: Mapping[str, Any], context: PushContext) -> bool:
        calls.append(key)
        return real(event, context)

    shared.get(key, lambda: counted)


def test_a_second_user_on_the_default_rules_costs_no_shared_condition() -> None:
    shared = SharedConditions()
    calls: list[str] = []
    _counted(shared, "underride", {"kind": "event_match", "key": "type", "pattern": "m.room.message"}, calls)
    _counted(
        shared, "override", {"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}, calls
    )
    first, second, third = (PushEvaluator(default_rules_for(u), shared, owner=u) for u in PLAIN[:3])
    assert first.signature == second.signature == third.signature
    pdu = {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi Sam"}}
    matcher = EventMatcher(_event(pdu), _rooms()[0])

    plain = matcher.first_match(PLAIN[0], first, "Pat")
    assert len(calls) == 2  # .m.rule.suppress_notices and .m.rule.message, once each
    again = matcher.first_match(PLAIN[1], second, "Kim")
    named = matcher.first_match(PLAIN[2], third, "Sam")  # their name in the body

    assert len(calls) == 2
    assert matcher.plans_built == 1
    assert plain is not None and plain.rule_id == ".m.rule.message"
    assert again is not None and again is second.rules[first.rules.index(plain)]
    assert named is not None and named.rule_id == ".m.rule.contains_display_name"


def test_changed_actions_share_a_signature_but_keep_the_users_own_actions() -> None:
    shared = SharedConditions()
    loud = PushEvaluator(default_rules_for(PLAIN[0]), shared, owner=PLAIN[0])
    quiet_rules = _changed(PLAIN[1], **{".m.rule.message": {"actions": []}})
    quiet = PushEvaluator(quiet_rules, shared, owner=PLAIN[1])
    assert loud.signature == quiet.signature
    matcher = EventMatcher(_event({"type": "m.room.message", "content": {"body": "hello"}}), _rooms()[0])
    assert (rule := matcher.first_match(PLAIN[0], loud, None)) is not None and rule.actions == ("notify",)
    assert (rule := matcher.first_match(PLAIN[1], quiet, None)) is not None and rule.actions == ()
    assert matcher.plans_built == 1


def test_signatures_tell_different_rules_apart() -> None:
    shared = SharedConditions()

    def signature(user_id: UserID, ruleset: Ruleset) -> int | None:
        return PushEvaluator(ruleset, shared, owner=user_id).signature

    default = signature(PLAIN[0], default_rules_for(PLAIN[0]))
    assert signature(PLAIN[1], default_rules_for(PLAIN[1])) == default
    assert signature(PLAIN[1], _ruleset(PLAIN[1], room=[own(ROOM, [])])) != default
    assert signature(PLAIN[2], _ruleset(PLAIN[2], room=[own(ROOM, [])])) == signature(
        PLAIN[1], _ruleset(PLAIN[1], room=[own(ROOM, [])])
    )
    assert signature(PLAIN[1], _changed(PLAIN[1], **{".m.rule.message": {"enabled": False}})) != default
    assert PushEvaluator(default_rules_for(PLAIN[0])).signature is None  # nothing shared


def test_signatures_of_different_shared_conditions_are_not_mixed_up() -> None:
    muted = PushEvaluator(_ruleset(PLAIN[1], room=[own(ROOM, [])]), SharedConditions(), owner=PLAIN[1])
    default = PushEvaluator(default_rules_for(PLAIN[0]), SharedConditions(), owner=PLAIN[0])
    assert muted.signature == default.signature  # each the first of its own numbering
    matcher = EventMatcher(_event({"type": "m.room.message", "content": {"body": "hello"}}), _rooms()[0])
    assert (
        rule := matcher.first_match(PLAIN[0], default, None)
    ) is not None and rule.rule_id == ".m.rule.message"
    assert (rule := matcher.first_match(PLAIN[1], muted, None)) is not None and rule.rule_id == ROOM


def test_personal_conditions_are_the_ones_about_the_owner() -> None:
    evaluator = EVALUATORS[UserID("@dave:example.org")]
    personal = {rule.rule_id: len(rule.personal) for rule in evaluator.rules if rule.personal}
    assert personal == {
        "me": 1,  # its glob holds his ID
        ".m.rule.invite_for_me": 1,  # the state key, not the type or membership
        ".m.rule.is_user_mention": 1,
        ".m.rule.contains_display_name": 1,
        ".m.rule.contains_user_name": 1,
    }
    invite = next(rule for rule in evaluator.rules if rule.rule_id == ".m.rule.invite_for_me")
    assert len(invite.common) == 2


TEXT = st.text(alphabet="kKsSmıİſK _-*?é", max_size=12)


@settings(max_examples=400, deadline=None)
@given(pattern=TEXT, value=TEXT)
def test_the_word_search_shortcut_never_changes_a_result(pattern: str, value: str) -> None:
    """The substring test before the regex (ASCII text only) against the regex alone, with
    Unicode case folding ("K" is "k", "ſ" is "s" to re.IGNORECASE) and wildcards."""
    glob, slow = Glob(pattern), Glob(pattern)
    slow._needle = None
    assert glob.matches_words(value) == slow.matches_words(value)
    assert contains_words(value, pattern) == (_words_pattern(pattern).search(value) is not None)


def test_the_word_search_shortcut_in_examples() -> None:
    assert Glob("kim").matches_words("\u212aIM: here")  # the Kelvin sign folds to k
    assert contains_words("ſam smith!", "Sam Smith")
    assert Glob("lunch").matches_words("LUNCH time") and not Glob("lunch").matches_words("brunch time")
    assert Glob("l?nch*").matches_words("so, LUNCHES") and not Glob("l?nch*").matches_words("lanc")
