"""Third-party network lookups (spec: "Third-party Networks").

Bridges answer these through application services; this server has none, so it knows no
protocols and finds nobody, and says so as Synapse does with no application service
registered: an empty protocol map and empty result lists, 404 for a named protocol."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.responses import json_response
from homeserver.errors import MissingParam, NotFound

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/thirdparty/protocols")
async def protocols(request: web.Request) -> web.Response:
    requester(request)
    return json_response({})


@routes.get("/_matrix/client/v3/thirdparty/protocol/{protocol}")
async def protocol(request: web.Request) -> web.Response:
    requester(request)
    raise NotFound("Unknown protocol")


@routes.get("/_matrix/client/v3/thirdparty/location/{protocol}")
@routes.get("/_matrix/client/v3/thirdparty/user/{protocol}")
async def lookup_in_protocol(request: web.Request) -> web.Response:
    requester(request)
    return json_response([])


@routes.get("/_matrix/client/v3/thirdparty/location")
async def locations_for_alias(request: web.Request) -> web.Response:
    return _reverse_lookup(request, "alias")


@routes.get("/_matrix/client/v3/thirdparty/user")
async def users_for_user_id(request: web.Request) -> web.Response:
    return _reverse_lookup(request, "userid")


def _reverse_lookup(request: web.Request, param: str) -> web.Response:
    requester(request)
    if not request.query.get(param):
        raise MissingParam(f"Missing query parameter '{param}'")
    return json_response([])
