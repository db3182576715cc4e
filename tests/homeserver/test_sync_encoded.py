"""Events encoded once for every listener (homeserver/sync/encoded.py, EncodedEvents): the bytes
equal the client format, each response has its own age, and a new Event object for the same
ID (a redaction) is encoded afresh."""

from __future__ import annotations

from typing import Any

import orjson

from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.sync.encoded import EncodedEvents
from tests.homeserver.eventbuilder import make_event

TS = 1_700_000_000_001  # the builder's origin_server_ts at depth 1


def message(body: str, unsigned: dict[str, Any] | None = None) -> Event:
    event = make_event(
        KNOWN_ROOM_VERSIONS["10"],
        event_id="$one",
        type="m.room.message",
        sender="@alice:test",
        content={"msgtype": "m.text", "body": body},
        room_id="!room:test",
    )
    if unsigned is None:
        return event
    return Event(event.event_id, event.room_version, {**event.pdu, "unsigned": unsigned})


def encoded(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def test_fragment_is_the_client_format_with_the_age_of_each_response() -> None:
    cache, event = EncodedEvents(), message("hello ü")
    first, second = encoded(cache.fragment(event, TS + 4_000)), encoded(cache.fragment(event, TS + 6_500))
    assert first == client_event(event, include_room_id=False, now=TS + 4_000)
    assert first["unsigned"] == {"age": 4_000} and second["unsigned"] == {"age": 6_500}


def test_a_new_object_for_the_same_event_is_encoded_again() -> None:
    cache = EncodedEvents()
    assert encoded(cache.fragment(message("before"), 2_000))["content"]["body"] == "before"
    assert encoded(cache.fragment(message("after"), 2_000))["content"]["body"] == "after"


def test_an_event_with_more_unsigned_data_is_not_shared() -> None:
    redacted = message("x", unsigned={"redacted_because": {"event_id": "$r", "type": "m.room.redaction"}})
    out = EncodedEvents().fragment(redacted, TS)
    assert isinstance(out, dict) and out["unsigned"]["redacted_because"]["event_id"] == "$r"


def test_the_cache_is_bounded() -> None:
    cache = EncodedEvents(size=2)
    for n in range(5):
        event = make_event(
            KNOWN_ROOM_VERSIONS["10"],
            event_id=f"${n}",
            type="m.room.message",
            sender="@a:test",
            content={"body": str(n)},
            room_id="!room:test",
        )
        cache.fragment(event, 10**13)
    assert len(cache._cache) == 2


def test_the_senders_device_gets_its_transaction_id_with_the_shared_bytes() -> None:
    cache, event = EncodedEvents(), message("hello")
    plain = encoded(cache.fragment(event, TS + 10))
    own = encoded(cache.fragment(event, TS + 10, 'tx "1"'))
    assert own == client_event(
        event, unsigned={"transaction_id": 'tx "1"'}, include_room_id=False, now=TS + 10
    )
    assert plain["unsigned"] == {"age": 10}


def test_a_redacted_event_keeps_its_transaction_id() -> None:
    redacted = message("x", unsigned={"redacted_because": {"event_id": "$r", "type": "m.room.redaction"}})
    out = EncodedEvents().fragment(redacted, TS, "t1")
    assert isinstance(out, dict) and out["unsigned"]["transaction_id"] == "t1"
    assert out["unsigned"]["redacted_because"]["event_id"] == "$r"
