"""Login, token refresh and logout (spec: "Login", "Refreshing access tokens", "Logout")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from clientapi.middleware import guest_allowed, public, requester
from clientapi.request import bool_field, field, read_json, required
from clientapi.responses import json_response
from clientapi.routes.register import login_body
from homeserver.appkeys import ACCOUNTS, CONFIG, LOGIN_TOKENS, RATE_LIMITER, UIA, USERS
from homeserver.errors import Forbidden, InvalidParam, MatrixError, MissingParam, Unknown, UserDeactivated
from homeserver.ids import DeviceID, UserID
from homeserver.uia import PASSWORD, claimed_user

routes = web.RouteTableDef()
TOKEN = "m.login.token"


@routes.get("/_matrix/client/v3/login")
@public
async def login_flows(request: web.Request) -> web.Response:
    # get_login_token: logged-in clients can make tokens for this flow (POST /login/get_token).
    return json_response({"flows": [{"type": PASSWORD}, {"type": TOKEN, "get_login_token": True}]})


@routes.post("/_matrix/client/v3/login")
@public
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    request.app[RATE_LIMITER].check("login", request.remote or "")
    login_type = required(body, "type", str)
    if login_type not in (PASSWORD, TOKEN):
        raise Unknown(f"Unknown login type {login_type[:64]!r}")
    device_id = field(body, "device_id", str)
    device_name = field(body, "initial_device_display_name", str)
    want_refresh = bool_field(body, "refresh_token", False)
    session = _SessionRequest(DeviceID(device_id) if device_id else None, device_name, want_refresh)
    if login_type == TOKEN:
        return await _token_login(request, body, session)
    user_id = await _check_password_login(request, body)
    return await _start_session(request, user_id, session)


@dataclass(frozen=True)
class _SessionRequest:
    device_id: DeviceID | None
    device_name: str | None
    want_refresh: bool


async def _check_password_login(request: web.Request, body: dict[str, Any]) -> UserID:
    """The user whose password the body gives; M_FORBIDDEN if it is wrong."""
    password = required(body, "password", str)
    _check_identifier(body)
    user_id = claimed_user(body, request.app[CONFIG].server_name)
    if user_id is None:
        raise Forbidden("Invalid username or password")
    limiter = request.app[RATE_LIMITER]
    limiter.check("failed_login", user_id, take=False)
    if not await request.app[ACCOUNTS].check_password(user_id, password):
        limiter.check("failed_login", user_id)
        raise Forbidden("Invalid username or password")
    return user_id


async def _token_login(request: web.Request, body: dict[str, Any], session: _SessionRequest) -> web.Response:
    """m.login.token: the token names the user and is good for one login. A login that fails
    on bad input (a bad device ID) gives the token back."""
    token = required(body, "token", str)
    claim = await request.app[LOGIN_TOKENS].consume(token)
    if claim is None:
        raise Forbidden("Invalid or expired login token")
    user = await request.app[USERS].get(claim.grant.user_id)
    if user is None:
        raise Forbidden("Invalid or expired login token")
    if user.deactivated:
        raise UserDeactivated("This account has been deactivated")
    try:
        return await _start_session(request, user.user_id, session)
    except MatrixError:
        await request.app[LOGIN_TOKENS].restore(claim)
        raise


async def _start_session(request: web.Request, user_id: UserID, session: _SessionRequest) -> web.Response:
    config = request.app[CONFIG]
    result = await request.app[ACCOUNTS].login(
        user_id,
        device_id=session.device_id,
        device_name=session.device_name,
        want_refresh=session.want_refresh,
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


@routes.post("/_matrix/client/v1/login/get_token")
async def get_login_token(request: web.Request) -> web.Response:
    """A single-use, two-minute token to log another client in as the requester, behind a
    fresh password check every time (the spec: no reuse of a recent UIA session)."""
    who = requester(request)
    body = await read_json(request)
    limiter = request.app[RATE_LIMITER]
    limiter.check("login", who.user_id, take=False)  # counted once a token is made
    uia = request.app[UIA]
    done = await uia.authenticate(
        method=request.method, uri=request.path, body=body, flows=[[PASSWORD]], user_id=who.user_id
    )
    await uia.finish(done.session_id)
    limiter.check("login", who.user_id)
    issued = await request.app[LOGIN_TOKENS].issue(who.user_id)
    return json_response({"login_token": issued.token, "expires_in_ms": issued.expires_in_ms})


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
