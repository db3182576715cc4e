"""Room summaries (spec: "Room Summaries"): GET /_matrix/client/v1/room_summary/{roomIdOrAlias},
with or without an access token.

Also under MSC3266's unstable prefix (`im.nheko.summary` in /versions' unstable_features):
matrix-js-sdk's getRoomSummary asks `/_matrix/client/unstable/im.nheko.summary/summary/{id}`
and, on M_UNRECOGNIZED, the older `/rooms/{id}/summary` (Element sees no spec version that has
the stable endpoint). The unstable answer is the stable one plus the MSC's prefixed names for
the room version and the encryption algorithm, which is what clients of the unstable API read."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from clientapi.middleware import guest_allowed, maybe_requester, optional_auth
from clientapi.responses import json_response
from clientapi.routes.common import room_id_or_alias
from homeserver.appkeys import RATE_LIMITER, ROOM_SUMMARIES
from homeserver.errors import InvalidParam
from homeserver.ids import is_valid_server_name

routes = web.RouteTableDef()
MAX_VIA = 100
UNSTABLE_PREFIX = "im.nheko.summary"
# Stable field -> the MSC3266 unstable names clients read it under ("version" is Synapse's).
UNSTABLE_FIELDS = {
    "room_version": (f"{UNSTABLE_PREFIX}.room_version", f"{UNSTABLE_PREFIX}.version"),
    "encryption": (f"{UNSTABLE_PREFIX}.encryption",),
}


@routes.get("/_matrix/client/v1/room_summary/{room_id_or_alias}")
@optional_auth  # the spec lets servers answer anonymous callers about rooms anyone may see
@guest_allowed
async def room_summary(request: web.Request) -> web.Response:
    return json_response(await _summary(request))


@routes.get(f"/_matrix/client/unstable/{UNSTABLE_PREFIX}/summary/{{room_id_or_alias}}")
@routes.get(f"/_matrix/client/unstable/{UNSTABLE_PREFIX}/rooms/{{room_id_or_alias}}/summary")
@optional_auth
@guest_allowed
async def unstable_room_summary(request: web.Request) -> web.Response:
    return json_response(with_unstable_fields(await _summary(request)))


async def _summary(request: web.Request) -> dict[str, Any]:
    who = maybe_requester(request)
    request.app[RATE_LIMITER].check("room_hierarchy", who.user_id if who else request.remote or "")
    _check_via(request)
    room_id = await room_id_or_alias(request)
    return await request.app[ROOM_SUMMARIES].summary(room_id, who.user_id if who else None)


def with_unstable_fields(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with each field that MSC3266 prefixed also under its unstable names."""
    extra = {
        name: summary[field] for field, names in UNSTABLE_FIELDS.items() if field in summary for name in names
    }
    return {**summary, **extra}


def _check_via(request: web.Request) -> None:
    """The servers to ask about a room this server does not know. This server does not ask
    other servers yet, so they are only checked."""
    via = request.query.getall("via", [])
    if len(via) > MAX_VIA or not all(is_valid_server_name(server) for server in via):
        raise InvalidParam(f"'via' must be at most {MAX_VIA} server names")
