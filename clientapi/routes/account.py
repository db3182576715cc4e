"""Account management: whoami, password change, deactivation, and the 3PID endpoints as
the spec has them answer for a server without identity-server support."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import guest_allowed, public, requester
from clientapi.request import bool_field, field, read_json, required
from clientapi.responses import json_response
from homeserver.appkeys import ACCOUNTS, UIA
from homeserver.errors import ThreepidAuthFailed, ThreepidMediumNotSupported
from homeserver.uia import PASSWORD

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/account/whoami")
@guest_allowed
async def whoami(request: web.Request) -> web.Response:
    who = requester(request)
    return json_response({"user_id": who.user_id, "device_id": who.device_id, "is_guest": who.is_guest})


@routes.post("/_matrix/client/v3/account/password")
async def change_password(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    new_password = required(body, "new_password", str)
    logout_devices = bool_field(body, "logout_devices", True)
    uia = request.app[UIA]
    done = await uia.authenticate(
        method=request.method, uri=request.path, body=body, flows=[[PASSWORD]], user_id=who.user_id
    )
    await request.app[ACCOUNTS].change_password(who, new_password, logout_devices=logout_devices)
    await uia.finish(done.session_id)
    return json_response({})


@routes.post("/_matrix/client/v3/account/deactivate")
async def deactivate(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    bool_field(body, "erase", False)  # nothing to erase beyond what deactivation forgets
    field(body, "id_server", str)
    uia = request.app[UIA]
    done = await uia.authenticate(
        method=request.method, uri=request.path, body=body, flows=[[PASSWORD]], user_id=who.user_id
    )
    await request.app[ACCOUNTS].deactivate(who.user_id)
    await uia.finish(done.session_id)
    # The spec: "success" when the homeserver has no identifiers to unbind, as here.
    return json_response({"id_server_unbind_result": "success"})


@routes.get("/_matrix/client/v3/account/3pid")
async def list_threepids(request: web.Request) -> web.Response:
    return json_response({"threepids": []})


@routes.post("/_matrix/client/v3/account/3pid")
@routes.post("/_matrix/client/v3/account/3pid/add")
@routes.post("/_matrix/client/v3/account/3pid/bind")
async def add_threepid(request: web.Request) -> web.Response:
    await read_json(request)
    raise ThreepidAuthFailed("This server does not support third-party identifiers")


@routes.post("/_matrix/client/v3/account/3pid/delete")
@routes.post("/_matrix/client/v3/account/3pid/unbind")
async def remove_threepid(request: web.Request) -> web.Response:
    body = await read_json(request)
    required(body, "medium", str)
    required(body, "address", str)
    field(body, "id_server", str)
    return json_response({"id_server_unbind_result": "no-support"})


@routes.post("/_matrix/client/v3/account/3pid/email/requestToken")
@routes.post("/_matrix/client/v3/account/3pid/msisdn/requestToken")
@public
async def threepid_request_token(request: web.Request) -> web.Response:
    await read_json(request)
    raise ThreepidMediumNotSupported("This server does not support third-party identifiers")


@routes.post("/_matrix/client/v3/account/password/email/requestToken")
@routes.post("/_matrix/client/v3/account/password/msisdn/requestToken")
@public
async def password_request_token(request: web.Request) -> web.Response:
    await read_json(request)
    raise ThreepidMediumNotSupported("This server does not support third-party identifiers")
