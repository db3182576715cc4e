"""Discovery: /versions, /.well-known/matrix/client, /capabilities."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import public
from clientapi.responses import json_response
from homeserver.appkeys import CONFIG
from homeserver.room_versions import KNOWN_ROOM_VERSIONS

routes = web.RouteTableDef()

SPEC_VERSIONS = [
    "r0.5.0",
    "r0.6.0",
    "r0.6.1",
    *(f"v1.{minor}" for minor in range(1, 13)),
]
# Unstable flags clients still look for although the features are in the spec now, as Synapse
# sets them: without e2e_cross_signing Element skips setting up cross-signing after login and
# says "Your homeserver does not support cross-signing"; msc3827.stable lets it filter the room
# directory by room type (spaces). The spec versions above stop at v1.12, so clients know room
# summaries (v1.15) and mutual rooms (v1.19) only from these flags and use the unstable paths
# served next to the stable ones: im.nheko.summary (MSC3266, routes/room_summary.py);
# query_mutual_rooms (MSC2666, routes/mutual_rooms.py; matrix-js-sdk's _unstable_getSharedRooms
# asks for it) and query_mutual_rooms.stable (the MSC's flag for /v1/mutual_rooms itself).
UNSTABLE_FEATURES = {
    "org.matrix.e2e_cross_signing": True,
    "org.matrix.msc3827.stable": True,
    "im.nheko.summary": True,
    "uk.half-shot.msc2666.query_mutual_rooms": True,
    "uk.half-shot.msc2666.query_mutual_rooms.stable": True,
}


@routes.get("/_matrix/client/versions")
@public
async def versions(request: web.Request) -> web.Response:
    return json_response({"versions": SPEC_VERSIONS, "unstable_features": UNSTABLE_FEATURES})


@routes.get("/.well-known/matrix/client")
@public
async def well_known_client(request: web.Request) -> web.Response:
    base_url = request.app[CONFIG].base_url.rstrip("/")
    return json_response({"m.homeserver": {"base_url": base_url}})


@routes.get("/_matrix/client/v3/capabilities")
async def capabilities(request: web.Request) -> web.Response:
    return json_response(
        {
            "capabilities": {
                "m.change_password": {"enabled": True},
                "m.room_versions": {
                    "default": request.app[CONFIG].default_room_version,
                    "available": {v: version.disposition.value for v, version in KNOWN_ROOM_VERSIONS.items()},
                },
                "m.set_displayname": {"enabled": True},
                "m.set_avatar_url": {"enabled": True},
                "m.3pid_changes": {"enabled": False},
                "m.get_login_token": {"enabled": True},  # POST /login/get_token
            }
        }
    )
