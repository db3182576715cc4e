"""Live events as clients see them, encoded once and shared by every listener's response."""

from __future__ import annotations

from typing import Any

import orjson

from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.ids import EventID
from homeserver.lru import Lru

MAX_ENCODED_EVENTS = 20_000


class EncodedEvents:
    """Live events as clients see them, encoded once and shared by every listener's response
    (DESIGN.md, "Performance"): the JSON of the event without its closing brace, to which each
    response adds only its own `unsigned` (the age). Keyed by the Event object itself, so a
    redaction (a new object from the event store) is encoded afresh."""

    def __init__(self, size: int = MAX_ENCODED_EVENTS) -> None:
        self._cache: Lru[EventID, tuple[Event, bytes]] = Lru(size)

    def fragment(self, event: Event, now: int, txn_id: str | None = None) -> Any:
        """The event at time `now`; `txn_id`: the transaction ID its sender's device gave it,
        for that device's responses."""
        hit = self._cache.get(event.event_id)
        if hit is None or hit[0] is not event:
            out = client_event(event, include_room_id=False, now=now)
            unsigned = out.pop("unsigned")
            if set(unsigned) != {"age"}:  # carries more (redacted_because): not shareable
                out["unsigned"] = {"transaction_id": txn_id, **unsigned} if txn_id is not None else unsigned
                return out
            hit = (event, orjson.dumps(out)[:-1])
            self._cache.put(event.event_id, hit)
        age = max(0, now - event.origin_server_ts)
        if txn_id is None:
            return orjson.Fragment(b'%b,"unsigned":{"age":%d}}' % (hit[1], age))
        txn = orjson.dumps(txn_id)
        return orjson.Fragment(b'%b,"unsigned":{"transaction_id":%b,"age":%d}}' % (hit[1], txn, age))
