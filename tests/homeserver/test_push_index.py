"""`MemberIndex` (the members looked up by the words and values an event holds, and only those
evaluated in full) gives every member exactly the rule their own evaluator gives alone, with
display names of several words, punctuation, non-ASCII letters, case changes and names that
are common words; and an event naming nobody evaluates nobody in full."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from homeserver.events.model import Event
from homeserver.ids import EventID, UserID
from homeserver.push.bulk import EventMatcher, RoomContext
from homeserver.push.evaluator import PushContext, PushEvaluator, SharedConditions
from homeserver.push.index import Member, MemberIndex
from homeserver.push.rules import default_rules_for
from homeserver.push.triggers import body_words, word_key
from tests.homeserver.test_push_bulk import SENDERS, USERS, _rooms
from tests.homeserver.test_push_evaluator import ROOM, V11

SHARED = SharedConditions()
EVALUATORS = {user: PushEvaluator(ruleset, SHARED, owner=user) for user, (ruleset, _) in USERS.items()}
# Pieces of names and bodies: word characters as re.IGNORECASE sees them ("İ", "ı", "ſ" and the
# Kelvin sign among them), other letters, punctuation and spaces.
PIECES = ["sam", "Sam", "SAM", "the", "a", "smith", "o'neil", "j.r.", "@room", "ſam", "\u212aim", "kim"]
PIECES += [
    "İrem",
    "ırmak",
    "irem",
    "élodie",
    "Élodie",
    "李雷",
    "🙂",
    "-",
    "!",
    ":",
    " ",
    "  ",
    "_x",
    "x_",
    "7",
]
JOIN = st.sampled_from(["", " ", ", "])
NAME = st.one_of(
    st.none(),
    st.just(""),
    st.tuples(JOIN, st.lists(st.sampled_from(PIECES), min_size=1, max_size=3)).map(lambda j: j[0].join(j[1])),
)


@st.composite
def room_names(draw: st.DrawFn) -> dict[UserID, str | None]:
    return {user: draw(NAME) for user in USERS}


@st.composite
def messages(draw: st.DrawFn, names: dict[UserID, str | None]) -> Event:
    """A message whose body holds pieces, whole names and local parts, with or without
    m.mentions."""
    words = [n for n in names.values() if n] + PIECES + [u[1:].split(":")[0].upper() for u in USERS]
    body = draw(JOIN).join(draw(st.lists(st.sampled_from(words), max_size=6)))
    content: dict[str, Any] = {"msgtype": "m.text", "body": draw(st.one_of(st.just(body), st.just(3)))}
    if draw(st.booleans()):
        mentioned = st.sampled_from([*USERS, 1, True, None, ["x"]])
        content["m.mentions"] = {"user_ids": draw(st.lists(mentioned, max_size=3))}
    sender = draw(st.sampled_from(SENDERS))
    return Event(
        EventID("$e"), V11, {"type": "m.room.message", "room_id": ROOM, "sender": sender, "content": content}
    )


def _alone(user_id: UserID, name: str | None, event: Event, room: RoomContext) -> tuple[Any, ...] | None:
    context = PushContext(user_id, room.room_version, room.member_count, name, room.power_levels, room.create)
    rule = PushEvaluator(USERS[user_id][0]).first_match(event, context)
    return None if rule is None else (rule.rule_id, rule.actions)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), names=room_names(), room=st.sampled_from(_rooms()))
def test_every_member_gets_the_rule_their_own_rules_give(
    data: st.DataObject, names: dict[UserID, str | None], room: RoomContext
) -> None:
    _check(names, data.draw(messages(names)), room)


def _check(names: dict[UserID, str | None], event: Event, room: RoomContext) -> None:
    index = MemberIndex(Member(user, EVALUATORS[user], names[user]) for user in USERS)
    matches = index.match(EventMatcher(event, room), event.sender)
    got = {user: None if rule is None else (rule.rule_id, rule.actions) for user, rule in matches.rules()}
    assert got == {user: _alone(user, names[user], event, room) for user in USERS}


def test_names_found_however_they_are_written() -> None:
    for name, body in [
        ("ſam", "hey SAM!"),
        ("Sam", "hey ſam!"),
        ("\u212aim", "kim?"),
        ("İrem Y", "irem y"),
        ("🙂", "so 🙂"),
        ("李雷", "李雷你好"),
        ("- x", "a - x"),
        ("the", "is THE one"),
        ("o'neil", "O'NEIL, hi"),
    ]:
        names: dict[UserID, str | None] = dict.fromkeys(USERS, "nobody")
        names[UserID("@alice:example.org")] = name
        content = {"msgtype": "m.text", "body": body}
        pdu = {"type": "m.room.message", "room_id": ROOM, "sender": SENDERS[0], "content": content}
        event = Event(EventID("$e"), V11, pdu)
        assert _alone(UserID("@alice:example.org"), name, event, _rooms()[0]) is not None, name
        _check(names, event, _rooms()[0])


def test_a_message_naming_nobody_evaluates_nobody_in_full() -> None:
    members = [UserID(f"@user{n}:example.org") for n in range(50)]
    shared = SharedConditions()
    index = MemberIndex(
        Member(user, PushEvaluator(default_rules_for(user), shared, owner=user), f"User {n} Smith")
        for n, user in enumerate(members)
    )
    content = {"msgtype": "m.text", "body": "lunch at noon?"}
    event = Event(
        EventID("$e"),
        V11,
        {"type": "m.room.message", "room_id": ROOM, "sender": members[0], "content": content},
    )
    matches = index.match(EventMatcher(event, _rooms()[2]), event.sender)
    assert matches.own == {members[0]: None}  # the sender, and nobody evaluated
    assert {rule.rule_id for _, rule in matches.rules() if rule} == {".m.rule.message"}

    named = {**content, "body": "user 7 SMITH: lunch?"}  # "user" is everyone's first word
    event = Event(EventID("$f"), V11, {**event.pdu, "content": named})
    matches = index.match(EventMatcher(event, _rooms()[2]), event.sender)
    assert len(matches.own) == 50 and matches.own[members[7]] is not None
    assert matches.own[members[7]].rule_id == ".m.rule.contains_display_name"  # type: ignore[union-attr]


def test_words_fold_as_the_body_search_does() -> None:
    assert word_key("  -Élodie Martin") == "lodie"  # "É" is no word character
    assert word_key("\u212aIM") == "kim" and word_key("ſam") == "sam" and word_key("İrem") == "irem"
    assert word_key("李雷 🙂") is None
    assert body_words("Hi, KIM and ſam_2!") == frozenset({"hi", "kim", "and", "sam_2"})
