"""Reading around an event: its context, and the event nearest a timestamp (spec: "Event
Context", `GET /rooms/{roomId}/timestamp_to_event`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from clientapi.middleware import requester
from clientapi.responses import json_response
from clientapi.routes.common import event_id_param, int_query_param, room_event_filter_param, room_id_param
from homeserver.appkeys import AGGREGATOR, EVENT_CONTEXT, TIMESTAMP_LOOKUP
from homeserver.errors import InvalidParam, MissingParam
from homeserver.events.client_format import client_event
from homeserver.events.model import Event

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/rooms/{room_id}/context/{event_id}")
async def context(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    event_id = event_id_param(request)
    limit = int_query_param(request, "limit", 10)
    if limit < 0:
        raise InvalidParam("limit must not be negative")
    event_filter = room_event_filter_param(request)
    found = await request.app[EVENT_CONTEXT].around(who.user_id, room_id, event_id, limit, event_filter)
    timeline = [found.event, *found.events_before, *found.events_after]
    bundles = await request.app[AGGREGATOR].bundles(who.user_id, timeline)  # one batch for all three

    def serve(event: Event) -> dict[str, Any]:
        return client_event(event, unsigned=bundles.get(event.event_id))

    out: dict[str, Any] = {
        "event": serve(found.event),
        "events_before": [serve(e) for e in found.events_before],
        "events_after": [serve(e) for e in found.events_after],
        "start": found.start,
        "end": found.end,
        "state": [client_event(e) for e in found.state],
    }
    return json_response(out)


@routes.get("/_matrix/client/v1/rooms/{room_id}/timestamp_to_event")
async def timestamp_to_event(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    ts = int_query_param(request, "ts")
    direction = request.query.get("dir")
    if direction is None:
        raise MissingParam("Missing query parameter 'dir'")
    if direction not in ("f", "b"):
        raise InvalidParam("dir must be 'f' or 'b'")
    found = await request.app[TIMESTAMP_LOOKUP].closest(who.user_id, room_id, ts, direction == "b")
    return json_response({"event_id": found.event_id, "origin_server_ts": found.origin_server_ts})
