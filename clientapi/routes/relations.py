"""Relations and threads (spec: "Relationships API", "Querying threads in a room"), and the
serialisation every route uses for events that carry bundled aggregations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from clientapi.middleware import requester
from clientapi.responses import json_response
from clientapi.routes.common import MAX_EVENT_TYPE, event_id_param, room_id_param, short_param
from homeserver.appkeys import AGGREGATOR, RELATION_PAGES
from homeserver.errors import InvalidParam
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.ids import UserID
from homeserver.rooms.relation_pages import RECURSION_DEPTH, RelationsQuery

routes = web.RouteTableDef()
ROOM = "/_matrix/client/v1/rooms/{room_id}"
DEFAULT_LIMIT = 5  # as Synapse, for both endpoints


async def bundled_events_json(
    request: web.Request, user_id: UserID, events: Sequence[Event], **kw: Any
) -> list[dict[str, Any]]:
    """Events in client format with their bundled aggregations (`unsigned.m.relations`)."""
    bundles = await request.app[AGGREGATOR].bundles(user_id, events)
    return [client_event(e, unsigned=bundles.get(e.event_id), **kw) for e in events]


@routes.get(ROOM + "/relations/{event_id}")
@routes.get(ROOM + "/relations/{event_id}/{rel_type}")
@routes.get(ROOM + "/relations/{event_id}/{rel_type}/{event_type}")
async def relations(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    parent_id = event_id_param(request)
    q = request.query
    recurse = _bool_param(q.get("recurse"), "recurse")
    query = RelationsQuery(
        rel_type=_optional_path(request, "rel_type"),
        event_type=_optional_path(request, "event_type"),
        from_token=q.get("from"),
        to_token=q.get("to"),
        backwards=_direction(q.get("dir", "b")),
        limit=_limit(q.get("limit"), minimum=0),
        recurse=bool(recurse),
    )
    page = await request.app[RELATION_PAGES].children(who.user_id, room_id, parent_id, query)
    out: dict[str, Any] = {"chunk": await bundled_events_json(request, who.user_id, page.chunk)}
    if page.next_batch is not None:
        out["next_batch"] = page.next_batch
    if query.from_token is not None:
        out["prev_batch"] = query.from_token
    if recurse is not None:  # mandatory once the client supplied the parameter
        out["recursion_depth"] = RECURSION_DEPTH if recurse else 1
    return json_response(out)


@routes.get(ROOM + "/threads")
async def threads(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    q = request.query
    include = q.get("include", "all")
    if include not in ("all", "participated"):
        raise InvalidParam("include must be 'all' or 'participated'")
    page = await request.app[RELATION_PAGES].threads(
        who.user_id,
        room_id,
        participated=include == "participated",
        from_token=q.get("from"),
        limit=_limit(q.get("limit"), minimum=1),
    )
    out: dict[str, Any] = {"chunk": await bundled_events_json(request, who.user_id, page.chunk)}
    if page.next_batch is not None:
        out["next_batch"] = page.next_batch
    return json_response(out)


def _optional_path(request: web.Request, name: str) -> str | None:
    return short_param(request, name, MAX_EVENT_TYPE) if name in request.match_info else None


def _direction(value: str) -> bool:
    if value not in ("b", "f"):
        raise InvalidParam("dir must be 'b' or 'f'")
    return value == "b"


def _limit(value: str | None, *, minimum: int) -> int:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise InvalidParam("limit must be an integer") from None
    if limit < minimum:
        raise InvalidParam(f"limit must be at least {minimum}")
    return limit


def _bool_param(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise InvalidParam(f"{name} must be 'true' or 'false'")
    return value == "true"
