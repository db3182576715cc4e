"""`m.relates_to` parsing and the validity of replacements, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.events.model import Event
from homeserver.events.relations import Relation, is_valid_replacement, relation_in
from homeserver.ids import EventID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.rooms.relations import _valid_edits
from tests.homeserver.eventbuilder import ALICE, BOB, make_event

V11 = KNOWN_ROOM_VERSIONS["11"]
ROOM = "!room:a.test"


def event(event_id: str, content: dict[str, Any], **kw: Any) -> Event:
    kw.setdefault("type", "m.room.message")
    kw.setdefault("sender", ALICE)
    kw.setdefault("room_id", ROOM)
    return make_event(V11, event_id=event_id, content=content, **kw)


def replacement(event_id: str, parent: str, **kw: Any) -> Event:
    content = {
        "body": "*",
        "m.new_content": {"body": "new"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": parent},
    }
    return event(event_id, content, **kw)


@pytest.mark.parametrize(
    "relates_to",
    [
        None,
        "m.thread",
        {"m.in_reply_to": {"event_id": "$a"}},
        {"rel_type": "m.thread"},
        {"rel_type": "m.thread", "event_id": 5},
        {"rel_type": "", "event_id": "$a"},
        {"rel_type": ["m.thread"], "event_id": "$a"},
        {"rel_type": "m.thread", "event_id": "a"},
        {"rel_type": "m.thread", "event_id": "$" + "a" * 255},
        {"rel_type": "x" * 256, "event_id": "$a"},
    ],
)
def test_not_a_relation(relates_to: Any) -> None:
    assert relation_in({"m.relates_to": relates_to}) is None


def test_relations() -> None:
    assert relation_in({"m.relates_to": {"rel_type": "m.thread", "event_id": "$a", "key": "k"}}) == Relation(
        "m.thread", EventID("$a"), None
    )
    annotation = {"rel_type": "m.annotation", "event_id": "$a", "key": "👍"}
    assert relation_in({"m.relates_to": annotation}) == Relation("m.annotation", EventID("$a"), "👍")
    keyless = {"rel_type": "m.annotation", "event_id": "$a", "key": 1}
    assert relation_in({"m.relates_to": keyless}) == Relation("m.annotation", EventID("$a"), None)
    reply_in_thread = {"rel_type": "m.thread", "event_id": "$root", "m.in_reply_to": {"event_id": "$b"}}
    assert relation_in({"m.relates_to": reply_in_thread}) == Relation("m.thread", EventID("$root"), None)


def test_validity_of_replacements() -> None:
    original = event("$o", {"body": "old"})
    assert is_valid_replacement(original, replacement("$e", "$o"))
    assert not is_valid_replacement(original, replacement("$e", "$o", sender=BOB))
    assert not is_valid_replacement(original, replacement("$e", "$o", type="m.sticker"))
    assert not is_valid_replacement(original, replacement("$e", "$o", room_id="!other:a.test"))
    assert not is_valid_replacement(original, replacement("$e", "$o", state_key=""))
    no_new_content = event("$e", {"body": "*", "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}})
    assert not is_valid_replacement(original, no_new_content)
    edit_of_edit = replacement("$e2", "$e")
    assert not is_valid_replacement(replacement("$e", "$o"), edit_of_edit)
    state = event("$s", {"name": "x"}, type="m.room.name", state_key="")
    assert not is_valid_replacement(state, replacement("$e", "$s", type="m.room.name"))
    # Encrypted: m.new_content is in the ciphertext, which the server cannot check.
    encrypted = event("$x", {"ciphertext": "..."}, type="m.room.encrypted")
    blob = {"ciphertext": "...", "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}}
    assert is_valid_replacement(encrypted, event("$y", blob, type="m.room.encrypted"))


def test_latest_edit_by_timestamp_then_event_id() -> None:
    original = event("$o", {"body": "old"})
    edits = {
        e.event_id: e for e in (replacement("$a", "$o"), replacement("$c", "$o"), replacement("$b", "$o"))
    }
    invalid = replacement("$z", "$o", sender=BOB)
    edits[invalid.event_id] = invalid
    candidates = [(10, e) for e in edits]
    chosen = _valid_edits({original.event_id: original}, {original.event_id: candidates}, edits)
    assert [e.event_id for e in chosen[original.event_id]] == ["$c", "$b", "$a"]
    candidates = [(11, EventID("$a")), (10, EventID("$c")), (10, EventID("$b"))]
    chosen = _valid_edits({original.event_id: original}, {original.event_id: candidates}, edits)
    assert [e.event_id for e in chosen[original.event_id]] == ["$a", "$c", "$b"]
