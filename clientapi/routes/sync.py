"""/sync and filters (spec: "Syncing", "Filtering")."""

from __future__ import annotations

import orjson
from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json
from clientapi.responses import json_response
from homeserver.appkeys import FILTERS, SYNC
from homeserver.errors import BadJson, Forbidden, InvalidParam, NotFound
from homeserver.filters import SyncFilter
from homeserver.ids import UserID
from homeserver.sync.handler import SyncRequest
from homeserver.sync.tokens import SyncToken

routes = web.RouteTableDef()
MAX_FILTER_BYTES = 16 * 1024
PRESENCE_STATES = ("online", "offline", "unavailable")


@routes.get("/_matrix/client/v3/sync")
async def sync(request: web.Request) -> web.Response:
    who = requester(request)
    q = request.query
    since = SyncToken.parse(q["since"]) if q.get("since") else None
    try:
        timeout_ms = int(q.get("timeout", "0"))
    except ValueError:
        raise InvalidParam("timeout must be an integer") from None
    full_state = q.get("full_state", "false")
    if full_state not in ("true", "false"):
        raise InvalidParam("full_state must be 'true' or 'false'")
    if q.get("set_presence", "online") not in PRESENCE_STATES:
        raise InvalidParam("set_presence must be online, offline or unavailable")
    sync_filter = await _filter(request, who.user_id, q.get("filter"))
    body = await request.app[SYNC].sync(
        SyncRequest(who.user_id, who.device_id, since, sync_filter, full_state == "true", timeout_ms)
    )
    return json_response(body)


async def _filter(request: web.Request, user_id: UserID, raw: str | None) -> SyncFilter:
    if raw is None:
        return SyncFilter()
    if raw.lstrip().startswith("{"):
        return _parse_filter(raw)
    stored = await request.app[FILTERS].get(user_id, raw)
    if stored is None:
        raise NotFound("Unknown filter")
    return _parse_filter(stored)


def _parse_filter(raw: str | bytes) -> SyncFilter:
    if len(raw) > MAX_FILTER_BYTES:
        raise BadJson("Filter too large")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadJson("Filter is not valid JSON") from None
    return SyncFilter.from_json(data)


def _own_user(request: web.Request) -> UserID:
    who = requester(request)
    if request.match_info["user_id"] != who.user_id:
        raise Forbidden("You can only manage your own filters")
    return who.user_id


@routes.post("/_matrix/client/v3/user/{user_id}/filter")
async def create_filter(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    body = await read_json(request)
    raw = orjson.dumps(body)
    _parse_filter(raw)  # refuse what /sync could not use
    filter_id = await request.app[FILTERS].create(user_id, raw.decode())
    return json_response({"filter_id": filter_id})


@routes.get("/_matrix/client/v3/user/{user_id}/filter/{filter_id}")
async def get_filter(request: web.Request) -> web.Response:
    user_id = _own_user(request)
    stored = await request.app[FILTERS].get(user_id, request.match_info["filter_id"])
    if stored is None:
        raise NotFound("Unknown filter")
    return web.Response(body=stored.encode(), content_type="application/json")
