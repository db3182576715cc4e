"""End-to-end encryption keys (spec: "End-to-End Encryption", "Key management API"):
POST /keys/upload, /keys/query, /keys/claim; and GET /room_keys/version, which answers that
no key backup exists until server-side key backups are supported."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import guest_allowed, requester
from clientapi.request import read_json
from clientapi.responses import json_response
from homeserver.appkeys import E2E_KEYS
from homeserver.errors import NotFound

routes = web.RouteTableDef()


@routes.post("/_matrix/client/v3/keys/upload")
@guest_allowed
async def upload_keys(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    return json_response(await request.app[E2E_KEYS].upload(who.user_id, who.device_id, body))


@routes.post("/_matrix/client/v3/keys/query")
@guest_allowed
async def query_keys(request: web.Request) -> web.Response:
    requester(request)
    body = await read_json(request)
    return json_response(await request.app[E2E_KEYS].query(body))


@routes.post("/_matrix/client/v3/keys/claim")
@guest_allowed
async def claim_keys(request: web.Request) -> web.Response:
    requester(request)
    body = await read_json(request)
    return json_response(await request.app[E2E_KEYS].claim(body))


@routes.get("/_matrix/client/v3/room_keys/version")
async def backup_version(request: web.Request) -> web.Response:
    requester(request)
    raise NotFound("No current backup version")
