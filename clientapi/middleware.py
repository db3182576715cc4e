"""The client API's edge: request ids, CORS, errors rendered as Matrix JSON, and auth.

Every handler needs an access token unless marked `@public`; a handler marked
`@optional_auth` gets a requester when a valid token is given."""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from clientapi.responses import json_response
from homeserver.appkeys import DEVICES, TOKENS
from homeserver.auth.tokens import Requester
from homeserver.clock import now_ms
from homeserver.errors import (
    GuestAccessForbidden,
    InternalError,
    LimitExceeded,
    MatrixError,
    MethodNotAllowed,
    MissingToken,
    TooLarge,
    Unknown,
    Unrecognized,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

REQUESTER: web.RequestKey[Requester] = web.RequestKey("requester")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
}
CORS_PREFIXES = ("/_matrix/", "/.well-known/matrix/")
LAST_SEEN_INTERVAL_S = 60.0


def public(handler: H) -> H:
    handler.__matrix_auth__ = "none"  # type: ignore[attr-defined]
    return handler


def optional_auth(handler: H) -> H:
    handler.__matrix_auth__ = "optional"  # type: ignore[attr-defined]
    return handler


def long_lived(handler: H) -> H:
    """Marks a handler that holds its request open for long (the WebSocket sync). The
    middlewares hand its requests straight on, so that no frame of theirs stays alive per
    open request (~0.6 KiB each); the handler authenticates with `optional_requester` and
    renders its own errors with `error_response` before it upgrades."""
    handler.__matrix_long_lived__ = True  # type: ignore[attr-defined]
    return handler


def _long_lived(request: web.Request) -> bool:
    match_info = request.match_info
    return match_info.http_exception is None and getattr(match_info.handler, "__matrix_long_lived__", False)


def guest_allowed(handler: H) -> H:
    """Guests (spec: "Guest access") may call only handlers marked with this."""
    handler.__matrix_guest__ = True  # type: ignore[attr-defined]
    return handler


def requester(request: web.Request) -> Requester:
    return request[REQUESTER]


def maybe_requester(request: web.Request) -> Requester | None:
    return request.get(REQUESTER)


@web.middleware
def error_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    return handler(request) if _long_lived(request) else _rendering_errors(request, handler)


# Request IDs: a random prefix per process and a counter (unique in the logs of several
# processes and restarts, without reading the system's randomness per request).
_REQUEST_PREFIX = secrets.token_hex(4)
_request_numbers = itertools.count(1)


async def _rendering_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = f"{_REQUEST_PREFIX}{next(_request_numbers):x}"
    request[REQUEST_ID] = request_id
    if request.method == "OPTIONS" and request.path.startswith(CORS_PREFIXES):
        return web.Response(status=204)
    try:
        return await handler(request)
    except MatrixError as e:
        return error_response(e)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(from_http(e))
    except Exception:
        log.exception("request %s %s failed (request id %s)", request.method, request.path, request_id)
        return error_response(InternalError(f"Internal server error (request id {request_id})"))


def from_http(e: web.HTTPException) -> MatrixError:
    """The Matrix error for one of aiohttp's HTTP errors."""
    if e.status == 404:
        return Unrecognized("Unrecognized request")
    if e.status == 405:
        return MethodNotAllowed("Method not allowed")
    if e.status == 413:
        return TooLarge("Request body too large")
    return Unknown(e.reason or "Bad request")


def error_response(error: MatrixError) -> web.Response:
    headers = None
    if isinstance(error, LimitExceeded):
        headers = {"Retry-After": str(max(1, -(-error.retry_after_ms // 1000)))}
    return json_response(error.to_json(), status=error.status, headers=headers)


@web.middleware
def auth_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    return handler(request) if _long_lived(request) else _authenticated(request, handler)


async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    mode = _auth_mode(request)
    if mode == "none" or not request.path.startswith("/_matrix/"):
        return await handler(request)
    if "access_token" in request.query:
        raise MissingToken("Access tokens must be sent in the Authorization header, not the query string")
    token = bearer_token(request)
    if token is None:
        if mode == "optional":
            return await handler(request)
        raise MissingToken("Missing access token")
    request[REQUESTER] = await authenticate(request, token)
    return await handler(request)


async def optional_requester(request: web.Request) -> Requester | None:
    """What auth_middleware does for an `@optional_auth` handler: the requester of the
    Authorization header's token, None without one; raises for a bad one."""
    if "access_token" in request.query:
        raise MissingToken("Access tokens must be sent in the Authorization header, not the query string")
    token = bearer_token(request)
    return None if token is None else await authenticate(request, token)


async def authenticate(request: web.Request, token: str) -> Requester:
    """The requester an access token stands for (M_UNKNOWN_TOKEN if none, M_GUEST_ACCESS_FORBIDDEN
    for a guest at a handler not marked `@guest_allowed`); notes the device as last seen."""
    who = await request.app[TOKENS].authenticate(token, now_ms())
    if who.is_guest and not getattr(request.match_info.handler, "__matrix_guest__", False):
        raise GuestAccessForbidden("Guest access is not allowed for this endpoint")
    await _note_last_seen(request, who)
    return who


def _auth_mode(request: web.Request) -> str:
    match_info = request.match_info
    if match_info.http_exception is not None:
        return "none"  # let the router's 404/405 through untouched
    handler: Any = match_info.handler
    return str(getattr(handler, "__matrix_auth__", "required"))


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


_LAST_SEEN: web.AppKey[dict[tuple[str, str], float]] = web.AppKey("last_seen_marks")


async def _note_last_seen(request: web.Request, who: Requester) -> None:
    """Record when and from where a device was last used, at most once a minute per device."""
    marks = request.app.get(_LAST_SEEN)
    if marks is None:
        return
    key = (who.user_id, who.device_id)
    now = time.monotonic()
    if now - marks.get(key, 0.0) < LAST_SEEN_INTERVAL_S:
        return
    marks[key] = now
    if len(marks) > 100_000:
        marks.clear()
    user_agent = request.headers.get("User-Agent")
    if user_agent is not None:  # header bytes that are not UTF-8 arrive as lone surrogates
        user_agent = user_agent.encode("utf-8", "replace").decode("utf-8")
    await request.app[DEVICES].record_last_seen(
        who.user_id, who.device_id, now_ms(), request.remote, user_agent
    )


def install(app: web.Application) -> None:
    app.middlewares.extend([error_middleware, auth_middleware])
    app[_LAST_SEEN] = {}
    app.on_response_prepare.append(_add_cors)


async def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        return  # browsers apply no CORS to an upgrade, and the socket would keep these all its life
    if request.path.startswith(CORS_PREFIXES):
        response.headers.update(CORS_HEADERS)
    response.headers.setdefault("X-Request-Id", request.get(REQUEST_ID, ""))
