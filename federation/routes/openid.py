"""OpenID userinfo (Server-Server API: "OpenID"): a third-party service exchanges an OpenID
token a user got from this server (client API POST /user/{userId}/openid/request_token) for
that user's Matrix ID. The token is the credential: the request is not signed."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import public
from clientapi.responses import json_response
from homeserver.appkeys import OPENID_TOKENS, USERS
from homeserver.errors import MissingParam, UnknownToken

routes = web.RouteTableDef()


@routes.get("/_matrix/federation/v1/openid/userinfo")
@public  # no Matrix access token: the OpenID token in the query string is the credential
async def userinfo(request: web.Request) -> web.Response:
    token = request.query.get("access_token")
    if token is None:
        raise MissingParam("Missing query parameter 'access_token'")
    user_id = await request.app[OPENID_TOKENS].owner(token)
    if user_id is not None:
        user = await request.app[USERS].get(user_id)
        if user is None or user.deactivated:
            user_id = None
    if user_id is None:
        raise UnknownToken("Access token unknown or expired")
    return json_response({"sub": user_id})
