"""A sync filter's `event_format` and `event_fields` (Client-Server API, "Filtering").

`event_format: "federation"` sends events as their PDUs (hashes, signatures, auth and prev
events, depth), with the same `unsigned` a client event carries. `event_fields` keeps only
the listed dot-separated paths of each event (`content.body`; a literal `.` or `\\` in a key
is escaped with `\\`). Both apply to the room events of a sync: timelines and state.

The default (client format, every field) is the shared, encoded-once path; a filter with
either option is the rare case, so its events are shaped one by one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeserver.clock import now_ms
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.filters import SyncFilter

# The PDU keys that are not part of the event JSON sent over federation as such.
_NOT_IN_PDU = ("unsigned",)


@dataclass(frozen=True, slots=True)
class EventShape:
    """How one sync response renders room events when its filter asks for a custom shape."""

    federation: bool
    fields: tuple[tuple[str, ...], ...] | None  # parsed paths; None: every field

    def render(self, event: Event, unsigned: Mapping[str, Any]) -> dict[str, Any]:
        if self.federation:
            out = {k: v for k, v in event.pdu.items() if k not in _NOT_IN_PDU}
            out["event_id"] = event.event_id  # not in PDUs after v1, and clients need it
            extra = dict(unsigned)
            extra["age"] = max(0, now_ms() - event.origin_server_ts)
            out["unsigned"] = extra
        else:
            out = client_event(event, unsigned=dict(unsigned), include_room_id=False)
        return out if self.fields is None else select_fields(out, self.fields)


def event_shape(sync_filter: SyncFilter) -> EventShape | None:
    """The filter's custom shape, or None for plain client events with every field."""
    federation = sync_filter.event_format == "federation"
    if not federation and sync_filter.event_fields is None:
        return None
    fields = None
    if sync_filter.event_fields is not None:
        paths = (p for p in (split_path(f) for f in sync_filter.event_fields) if p)
        # Longest first: a broader path copied later replaces what narrower ones built,
        # so nothing is ever written into the event's own dicts.
        fields = tuple(sorted(paths, key=len, reverse=True))
    return EventShape(federation, fields)


def split_path(field: str) -> tuple[str, ...]:
    """`content.body` -> ("content", "body"); `\\.` is a literal dot, `\\\\` a backslash."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in field:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return tuple(parts) if all(parts) else ()


def select_fields(event: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """The parts of `event` named by `paths`; paths that lead nowhere are skipped."""
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = event
        for key in path:
            if not isinstance(source, Mapping) or key not in source:
                break
            source = source[key]
        else:
            target = out
            for key in path[:-1]:
                nested = target.get(key)
                if not isinstance(nested, dict):
                    nested = target[key] = {}
                target = nested
            target[path[-1]] = source
    return out
