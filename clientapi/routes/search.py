"""Server-side search (spec: "Server Side Search"): POST /search, category room_events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import bool_field, field, read_json, required
from clientapi.responses import json_response
from homeserver.appkeys import AGGREGATOR, SEARCH
from homeserver.errors import InvalidParam
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.filters import RoomEventFilter
from homeserver.ids import EventID
from homeserver.rooms.relations import Bundle
from homeserver.search import (
    DEFAULT_CONTEXT,
    GROUP_KEYS,
    MAX_CONTEXT,
    ContextRequest,
    RoomEventsRequest,
    RoomEventsResults,
    SearchResult,
)
from homeserver.storage.search import ALL_KEYS, Order

routes = web.RouteTableDef()


@routes.post("/_matrix/client/v3/search")
async def search(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    categories = required(body, "search_categories", dict)
    next_batch = request.query.get("next_batch")
    out: dict[str, Any] = {}
    criteria = field(categories, "room_events", dict)
    if criteria is not None:
        found = await request.app[SEARCH].search(who.user_id, parse_room_events(criteria), next_batch)
        # Bundled aggregations (spec: "should" for /search), as /messages has them: Element
        # shows an edited result's latest text from them.
        shown = [e for r in found.results for e in _result_events(r)]
        bundles = await request.app[AGGREGATOR].bundles(who.user_id, shown)
        out["room_events"] = room_events_json(found, bundles)
    return json_response({"search_categories": out})


def parse_room_events(criteria: dict[str, Any]) -> RoomEventsRequest:
    keys = field(criteria, "keys", list)
    if keys is not None and not all(isinstance(k, str) and k in ALL_KEYS for k in keys):
        raise InvalidParam(f"keys may only contain {', '.join(ALL_KEYS)}")
    order_by = field(criteria, "order_by", str) or "rank"
    if order_by not in ("rank", "recent"):
        raise InvalidParam("order_by must be 'rank' or 'recent'")
    order: Order = "rank" if order_by == "rank" else "recent"
    return RoomEventsRequest(
        search_term=required(criteria, "search_term", str),
        keys=tuple(dict.fromkeys(keys)) if keys is not None else ALL_KEYS,
        event_filter=RoomEventFilter.from_json(field(criteria, "filter", dict)),
        order_by=order,
        context=_context(field(criteria, "event_context", dict)),
        include_state=bool_field(criteria, "include_state", False),
        group_by=_group_by(field(criteria, "groupings", dict)),
    )


def _context(body: dict[str, Any] | None) -> ContextRequest | None:
    if body is None:
        return None
    limits = []
    for name in ("before_limit", "after_limit"):
        value = field(body, name, int)
        if value is not None and value < 0:
            raise InvalidParam(f"'{name}' must not be negative")
        limits.append(min(value if value is not None else DEFAULT_CONTEXT, MAX_CONTEXT))
    return ContextRequest(limits[0], limits[1], bool_field(body, "include_profile", False))


def _group_by(body: dict[str, Any] | None) -> tuple[str, ...]:
    if body is None:
        return ()
    groups = field(body, "group_by", list) or []
    keys = []
    for group in groups:
        key = group.get("key") if isinstance(group, dict) else None
        if key not in GROUP_KEYS:
            raise InvalidParam("group_by keys must be 'room_id' or 'sender'")
        keys.append(key)
    return tuple(dict.fromkeys(keys))


def _result_events(result: SearchResult) -> list[Event]:
    context = result.context
    if context is None:
        return [result.event]
    return [result.event, *context.events_before, *context.events_after]


def room_events_json(found: RoomEventsResults, bundles: Mapping[EventID, Bundle]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "count": found.count,
        "highlights": found.highlights,
        "results": [_result_json(r, bundles) for r in found.results],
    }
    if found.next_batch is not None:
        out["next_batch"] = found.next_batch
    if found.groups:
        out["groups"] = {
            key: {
                value: {"results": g.results, "order": g.order}
                | ({"next_batch": g.next_batch} if g.next_batch else {})
                for value, g in groups.items()
            }
            for key, groups in found.groups.items()
        }
    if found.state is not None:
        out["state"] = {room_id: _events(state, {}) for room_id, state in found.state.items()}
    return out


def _result_json(result: SearchResult, bundles: Mapping[EventID, Bundle]) -> dict[str, Any]:
    result_json = client_event(result.event, unsigned=bundles.get(result.event.event_id))
    out: dict[str, Any] = {"rank": result.rank, "result": result_json}
    context = result.context
    if context is not None:
        out["context"] = {
            "events_before": _events(context.events_before, bundles),
            "events_after": _events(context.events_after, bundles),
            "start": context.start,
            "end": context.end,
        }
        if context.profile_info is not None:
            out["context"]["profile_info"] = context.profile_info
    return out


def _events(events: list[Event], bundles: Mapping[EventID, Bundle]) -> list[dict[str, Any]]:
    return [client_event(e, unsigned=bundles.get(e.event_id)) for e in events]
