"""End-to-end encryption keys (spec: "End-to-End Encryption", "Key management API",
"Cross-signing"): POST /keys/upload, /keys/query, /keys/claim, GET /keys/changes,
POST /keys/device_signing/upload and /keys/signatures/upload."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import guest_allowed, requester
from clientapi.request import read_json
from clientapi.responses import json_response
from homeserver.appkeys import CROSS_SIGNING, DEVICE_LISTS, E2E_KEYS, SIGNATURE_UPLOAD, SYNC, UIA
from homeserver.errors import MissingParam
from homeserver.sync.tokens import SyncToken
from homeserver.uia import PASSWORD

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
    who = requester(request)
    body = await read_json(request)
    return json_response(await request.app[E2E_KEYS].query(who.user_id, body))


@routes.post("/_matrix/client/v3/keys/claim")
@guest_allowed
async def claim_keys(request: web.Request) -> web.Response:
    requester(request)
    body = await read_json(request)
    return json_response(await request.app[E2E_KEYS].claim(body))


@routes.get("/_matrix/client/v3/keys/changes")
@guest_allowed
async def key_changes(request: web.Request) -> web.Response:
    """Users whose devices changed between two sync tokens, sharing a room with the caller
    (as /sync's device_lists). Positions past the present are taken as the present."""
    who = requester(request)
    now = request.app[SYNC].current_token()
    since, until = (_token(request, name, now) for name in ("from", "to"))
    changed, left = await request.app[DEVICE_LISTS].for_sync(
        who.user_id, since.device_lists, until.device_lists, since.rooms, until.rooms
    )
    return json_response({"changed": changed, "left": left})


def _token(request: web.Request, name: str, now: SyncToken) -> SyncToken:
    raw = request.query.get(name)
    if raw is None:
        raise MissingParam(f"Missing parameter '{name}'")
    token = SyncToken.parse(raw)
    return SyncToken(min(token.rooms, now.rooms), 0, device_lists=min(token.device_lists, now.device_lists))


@routes.post("/_matrix/client/v3/keys/device_signing/upload")
async def upload_cross_signing_keys(request: web.Request) -> web.Response:
    """Behind UIA, except for a user's first master key and for the stored keys sent again."""
    who = requester(request)
    body = await read_json(request)
    cross_signing = request.app[CROSS_SIGNING]
    upload = await cross_signing.check_upload(who.user_id, body)
    session = None
    if upload.needs_auth:
        uia = request.app[UIA]
        done = await uia.authenticate(
            method=request.method, uri=request.path, body=body, flows=[[PASSWORD]], user_id=who.user_id
        )
        session = done.session_id
    await cross_signing.store_upload(who.user_id, upload)
    if session is not None:
        await request.app[UIA].finish(session)
    return json_response({})


@routes.post("/_matrix/client/v3/keys/signatures/upload")
async def upload_signatures(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    return json_response(await request.app[SIGNATURE_UPLOAD].upload(who.user_id, body))
