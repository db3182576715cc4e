"""Registration (spec: "Account registration"), with User-Interactive Auth."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import public
from clientapi.request import bool_field, field, query_param, read_json
from clientapi.responses import json_response
from homeserver.accounts import LoginResult
from homeserver.appkeys import ACCOUNTS, CONFIG, RATE_LIMITER, REGISTRATION_TOKENS, UIA
from homeserver.clock import now_ms
from homeserver.errors import Forbidden, GuestAccessForbidden, InvalidParam, ThreepidDenied
from homeserver.ids import DeviceID
from homeserver.uia import DUMMY, REGISTRATION_TOKEN

routes = web.RouteTableDef()


def login_body(result: LoginResult, server_name: str) -> dict[str, object]:
    body: dict[str, object] = {
        "user_id": result.user_id,
        "access_token": result.access_token,
        "device_id": result.device_id,
        "home_server": server_name,
    }
    if result.refresh_token is not None:
        body["refresh_token"] = result.refresh_token
        body["expires_in_ms"] = result.expires_in_ms
    return body


def _check_registration_enabled(request: web.Request) -> None:
    if not request.app[CONFIG].registration.enabled:
        raise Forbidden("Registration has been disabled")


@routes.post("/_matrix/client/v3/register")
@public
async def register(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    kind = request.query.get("kind", "user")
    if kind not in ("user", "guest"):
        raise InvalidParam("kind must be 'user' or 'guest'")
    if kind == "guest" and not config.registration.allow_guests:
        raise GuestAccessForbidden("Guest access is disabled")
    _check_registration_enabled(request)
    body = await read_json(request)
    # Counted once an account is made, not per step of the handshake (a client's sign-up is
    # two 401 challenges, then the registration), as Synapse does; refused once spent.
    limiter, address = request.app[RATE_LIMITER], request.remote or ""
    limiter.check("register", address, take=False)
    if kind == "guest":
        limiter.check("register", address)
        guest = await request.app[ACCOUNTS].register_guest(field(body, "initial_device_display_name", str))
        return json_response(login_body(guest, config.server_name))
    username = field(body, "username", str)
    password = field(body, "password", str)
    device_id = field(body, "device_id", str)
    device_name = field(body, "initial_device_display_name", str)
    inhibit_login = bool_field(body, "inhibit_login", False)
    want_refresh = bool_field(body, "refresh_token", False)
    accounts = request.app[ACCOUNTS]
    if username is not None:
        await accounts.check_username(username)
    flows = [[REGISTRATION_TOKEN]] if config.registration.require_token else [[DUMMY]]
    uia = request.app[UIA]
    done = await uia.authenticate(method=request.method, uri=request.path, body=body, flows=flows)
    limiter.check("register", address)
    result = await accounts.register(
        username,
        password,
        device_id=DeviceID(device_id) if device_id else None,
        device_name=device_name,
        inhibit_login=inhibit_login,
        want_refresh=want_refresh,
        registration_token=done.registration_token if config.registration.require_token else None,
    )
    await uia.finish(done.session_id)
    if not isinstance(result, LoginResult):
        return json_response({"user_id": result, "home_server": config.server_name})
    return json_response(login_body(result, config.server_name))


@routes.get("/_matrix/client/v3/register/available")
@public
async def username_available(request: web.Request) -> web.Response:
    _check_registration_enabled(request)
    request.app[RATE_LIMITER].check("register_available", request.remote or "")
    username = query_param(request, "username", required=True)
    assert username is not None
    await request.app[ACCOUNTS].check_username(username)
    return json_response({"available": True})


@routes.get("/_matrix/client/v1/register/m.login.registration_token/validity")
@public
async def registration_token_validity(request: web.Request) -> web.Response:
    request.app[RATE_LIMITER].check("register_available", request.remote or "")
    _check_registration_enabled(request)  # the spec: then every token is invalid, with a 403
    token = query_param(request, "token", required=True)
    assert token is not None
    found = await request.app[REGISTRATION_TOKENS].get(token) if len(token) <= 64 else None
    return json_response({"valid": found is not None and found.valid_at(now_ms())})


@routes.post("/_matrix/client/v3/register/email/requestToken")
@routes.post("/_matrix/client/v3/register/msisdn/requestToken")
@public
async def register_request_token(request: web.Request) -> web.Response:
    await read_json(request)
    raise ThreepidDenied("This server does not support third-party identifiers")
