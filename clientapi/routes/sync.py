"""/sync and filters (spec: "Syncing", "Filtering")."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import check_depth, read_json
from clientapi.responses import json_response
from homeserver.appkeys import FILTERS, SYNC
from homeserver.errors import BadJson, Forbidden, InvalidParam, NotFound
from homeserver.filters import SyncFilter
from homeserver.ids import UserID
from homeserver.sync.request import SyncRequest
from homeserver.sync.tokens import SyncToken

routes = web.RouteTableDef()
MAX_FILTER_BYTES = 16 * 1024
PRESENCE_STATES = ("online", "offline", "unavailable")


@dataclass(frozen=True)
class SyncQuery:
    """The query parameters of /sync (also those of the WebSocket sync), checked. `filter` is
    the inline filter, parsed, or the ID of a stored filter, looked up by `load_filter`."""

    since: SyncToken | None
    timeout_ms: int
    full_state: bool
    set_presence: str
    filter: SyncFilter | str


def parse_sync_query(q: Mapping[str, str]) -> SyncQuery:
    since = SyncToken.parse(q["since"]) if q.get("since") else None
    try:
        timeout_ms = int(q.get("timeout", "0"))
    except ValueError:
        raise InvalidParam("timeout must be an integer") from None
    full_state = q.get("full_state", "false")
    if full_state not in ("true", "false"):
        raise InvalidParam("full_state must be 'true' or 'false'")
    set_presence = q.get("set_presence", "online")
    if set_presence not in PRESENCE_STATES:
        raise InvalidParam("set_presence must be online, offline or unavailable")
    raw = q.get("filter")
    sync_filter: SyncFilter | str = raw if raw is not None else SyncFilter()
    if raw is not None and _is_inline(raw):
        sync_filter = _parse_filter(raw)
    return SyncQuery(since, timeout_ms, full_state == "true", set_presence, sync_filter)


@routes.get("/_matrix/client/v3/sync")
async def sync(request: web.Request) -> web.Response:
    who = requester(request)
    query = parse_sync_query(request.query)
    sync_filter = await load_filter(request.app, who.user_id, query.filter)
    body = await request.app[SYNC].sync(
        SyncRequest(
            who.user_id,
            who.device_id,
            query.since,
            sync_filter,
            query.full_state,
            query.timeout_ms,
            query.set_presence,
        )
    )
    return json_response(body)


async def load_filter(app: web.Application, user_id: UserID, given: SyncFilter | str) -> SyncFilter:
    """The filter of a /sync request: given inline, or the ID of one of the user's filters."""
    if isinstance(given, SyncFilter):
        return given
    stored = await app[FILTERS].get(user_id, given)
    if stored is None:
        raise NotFound("Unknown filter")
    return _parse_filter(stored)


def _is_inline(raw: str) -> bool:
    return raw.lstrip().startswith("{")


@functools.lru_cache(maxsize=256)  # clients send the same inline filter on every /sync
def _parse_filter(raw: str | bytes) -> SyncFilter:
    if len(raw) > MAX_FILTER_BYTES:
        raise BadJson("Filter too large")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadJson("Filter is not valid JSON") from None
    check_depth(data, raw)
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
