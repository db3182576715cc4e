"""OpenID (spec: "OpenID"): a token a third-party service exchanges, through this server's
federation API (GET /_matrix/federation/v1/openid/userinfo), for the user's Matrix ID."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json
from clientapi.responses import json_response
from clientapi.routes.common import path_param
from homeserver.appkeys import CONFIG, OPENID_TOKENS
from homeserver.errors import Forbidden

routes = web.RouteTableDef()


@routes.post("/_matrix/client/v3/user/{user_id}/openid/request_token")
async def request_token(request: web.Request) -> web.Response:
    who = requester(request)
    if path_param(request, "user_id") != who.user_id:
        raise Forbidden("You may only request OpenID tokens for yourself")
    await read_json(request)  # an empty object, reserved for future expansion
    issued = await request.app[OPENID_TOKENS].issue(who.user_id)
    return json_response(
        {
            "access_token": issued.token,
            "token_type": "Bearer",
            "matrix_server_name": request.app[CONFIG].server_name,
            "expires_in": issued.expires_in_ms // 1000,
        }
    )
