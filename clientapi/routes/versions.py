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


@routes.get("/_matrix/client/versions")
@public
async def versions(request: web.Request) -> web.Response:
    return json_response({"versions": SPEC_VERSIONS, "unstable_features": {}})


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
                "m.get_login_token": {"enabled": False},
            }
        }
    )
