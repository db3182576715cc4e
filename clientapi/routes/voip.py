"""TURN server credentials for VoIP calls (spec: "Voice over IP").

No TURN server is configured on this server, so the answer is an empty object, as Synapse
gives without `turn_uris`: clients (matrix-js-sdk, Element) then call over STUN/host
candidates instead of logging an error on every start."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.responses import json_response

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/voip/turnServer")
async def turn_server(request: web.Request) -> web.Response:
    requester(request)
    return json_response({})
