"""Events as clients see them (Client-Server API, "Room Event Format")."""

from __future__ import annotations

from typing import Any

from homeserver.clock import now_ms
from homeserver.events.model import Event

# Keys of the PDU that clients get; the rest (hashes, signatures, auth/prev events, depth)
# is federation's business.
CLIENT_KEYS = ("content", "origin_server_ts", "sender", "type", "state_key", "room_id")


def client_event(
    event: Event,
    *,
    unsigned: dict[str, Any] | None = None,
    include_room_id: bool = True,
    now: int | None = None,
) -> dict[str, Any]:
    pdu = event.pdu
    out: dict[str, Any] = {key: pdu[key] for key in CLIENT_KEYS if key in pdu}
    out["event_id"] = event.event_id
    if include_room_id:
        out["room_id"] = event.room_id
    else:
        out.pop("room_id", None)
    redacts = event.redacts
    if redacts is not None:
        out["redacts"] = redacts  # top level in every version, for older clients
    extra = dict(unsigned or {})
    stored = pdu.get("unsigned")
    if isinstance(stored, dict) and "redacted_because" in stored:  # set when it was redacted
        extra.setdefault("redacted_because", stored["redacted_because"])
    extra["age"] = max(0, (now if now is not None else now_ms()) - event.origin_server_ts)
    out["unsigned"] = extra
    return out
