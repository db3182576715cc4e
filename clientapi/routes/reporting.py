"""Reporting content to the server admins (spec: "Reporting Content")."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json, required
from clientapi.responses import json_response
from clientapi.routes.common import event_id_param, room_id_param, user_id_value
from homeserver.appkeys import REPORTS
from homeserver.errors import InvalidParam

routes = web.RouteTableDef()


def _check_reason(reason: str | None) -> None:
    if reason is not None and "\x00" in reason:
        raise InvalidParam("'reason' must not contain NUL characters")


@routes.post("/_matrix/client/v3/rooms/{room_id}/report/{event_id}")
async def report_event(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    event_id = event_id_param(request)
    body = await read_json(request)
    reason = field(body, "reason", str)
    _check_reason(reason)
    # `score` left the spec in v1.18; older clients still send it, in the old range -100..0.
    score = field(body, "score", int)
    if score is not None and not -100 <= score <= 0:
        raise InvalidParam("'score' must be between -100 and 0")
    await request.app[REPORTS].report_event(who.user_id, room_id, event_id, reason, score)
    return json_response({})


@routes.post("/_matrix/client/v3/rooms/{room_id}/report")
async def report_room(request: web.Request) -> web.Response:
    who = requester(request)
    room_id = room_id_param(request)
    reason = required(await read_json(request), "reason", str)
    _check_reason(reason)
    await request.app[REPORTS].report_room(who.user_id, room_id, reason)
    return json_response({})


@routes.post("/_matrix/client/v3/users/{user_id}/report")
async def report_user(request: web.Request) -> web.Response:
    who = requester(request)
    target = user_id_value(request.match_info["user_id"])
    reason = required(await read_json(request), "reason", str)
    _check_reason(reason)
    await request.app[REPORTS].report_user(who.user_id, target, reason)
    return json_response({})
