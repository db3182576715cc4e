"""Login, token refresh and logout (spec: "Login", "Refreshing access tokens", "Logout")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from clientapi.middleware import guest_allowed, public, requester
from clientapi.request import bool_field, field, read_json, required
from clientapi.responses import json_response
from clientapi.routes.register import login_body
from homeserver.appkeys import ACCOUNTS, CONFIG, RATE_LIMITER
from homeserver.errors import Forbidden, InvalidParam, MissingParam, Unknown
from homeserver.ids import DeviceID
from homeserver.uia import PASSWORD, claimed_user

routes = web.RouteTableDef()


@routes.get("/_matrix/client/v3/login")
@public
async def login_flows(request: web.Request) -> web.Response:
    return json_response({"flows": [{"type": PASSWORD}]})


@routes.post("/_matrix/client/v3/login")
@public
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    limiter = request.app[RATE_LIMITER]
    limiter.check("login", request.remote or "")
    login_type = required(body, "type", str)
    if login_type != PASSWORD:
        raise Unknown(f"Unknown login type {login_type[:64]!r}")
    password = required(body, "password", str)
    device_id = field(body, "device_id", str)
    device_name = field(body, "initial_device_display_name", str)
    want_refresh = bool_field(body, "refresh_token", False)
    config = request.app[CONFIG]
    _check_identifier(body)
    user_id = claimed_user(body, config.server_name)
    if user_id is None:
        raise Forbidden("Invalid username or password")
    limiter.check("failed_login", user_id, take=False)
    accounts = request.app[ACCOUNTS]
    if not await accounts.check_password(user_id, password):
        limiter.check("failed_login", user_id)
        raise Forbidden("Invalid username or password")
    result = await accounts.login(
        user_id,
        device_id=DeviceID(device_id) if device_id else None,
        device_name=device_name,
        want_refresh=want_refresh,
    )
    body_out = login_body(result, config.server_name)
    body_out["well_known"] = {"m.homeserver": {"base_url": config.base_url.rstrip("/")}}
    return json_response(body_out)


def _check_identifier(body: dict[str, Any]) -> None:
    """A login must name its user, by an `m.id.user` identifier or the legacy `user`."""
    identifier = body.get("identifier")
    if identifier is None:
        if body.get("user") is None:
            raise MissingParam("Missing parameter 'identifier'")
        field(body, "user", str)
        return
    if not isinstance(identifier, dict):
        raise InvalidParam("'identifier' must be an object")
    kind = field(identifier, "type", str, required=True)
    if kind != "m.id.user":
        raise Unknown("Unknown login identifier type")
    field(identifier, "user", str, required=True)


@routes.post("/_matrix/client/v3/refresh")
@public
async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request)
    token = required(body, "refresh_token", str)
    result = await request.app[ACCOUNTS].refresh(token)
    return json_response(
        {
            "access_token": result.access_token,
            "refresh_token": result.refresh_token,
            "expires_in_ms": result.expires_in_ms,
        }
    )


@routes.post("/_matrix/client/v3/logout")
@guest_allowed
async def logout(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].logout(requester(request))
    return json_response({})


@routes.post("/_matrix/client/v3/logout/all")
async def logout_all(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].logout_all(requester(request).user_id)
    return json_response({})
