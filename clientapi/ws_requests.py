"""Client -> server frames of the WebSocket sync (DESIGN.md, "WebSocket sync").

A request is a JSON object with a `type` and an `id` (a string or an integer, echoed back);
it is answered by exactly one `{"type": "ack", "id", ...}` or one
`{"type": "error", "id", "errcode", "error"}`. A frame that cannot be read as a request is
answered by an error whose `id` is the frame's if it has a usable one, else null.

Each request does what its HTTP twin does, with the same checks: `send` is
PUT /rooms/{room_id}/send/{event_type}/{txn_id} through the same function and transaction key
(one txn ID, one event, whichever way it came), `typing` is PUT /rooms/{room_id}/typing/{user_id}
for the socket's user, `receipt` is POST /rooms/{room_id}/receipt/{receipt_type}/{event_id}.
The HTTP send route applies no rate limit, so neither does the socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from clientapi.request import check_depth, field, required
from clientapi.routes.common import MAX_EVENT_TYPE, MAX_TXN_ID, room_id_value, short_value
from clientapi.routes.rooms import send_message_event
from homeserver.appkeys import RECEIPTS, TYPING
from homeserver.auth.tokens import Requester
from homeserver.errors import (
    BadJson,
    InvalidParam,
    MatrixError,
    MissingParam,
    NotJson,
    TooLarge,
    Unrecognized,
)
from homeserver.ids import EventID

MAX_ID_BYTES = 255
AUTH = "auth"

RequestId = str | int
Handler = Callable[[web.Application, Requester, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ClientRequest:
    id: RequestId | None  # None only for the first-frame auth, whose id is optional
    type: str
    body: dict[str, Any]


class BadFrame(Exception):
    """A frame that is not a request we can perform; answered with an error frame."""

    def __init__(self, request_id: RequestId | None, error: MatrixError) -> None:
        super().__init__(error.message)
        self.request_id = request_id
        self.error = error


def parse_request(data: bytes | str, max_bytes: int) -> ClientRequest:
    """A frame as a request of a known type with a valid id, or BadFrame."""
    if len(data) > max_bytes:
        raise BadFrame(None, TooLarge(f"Frames are limited to {max_bytes} bytes"))
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BadFrame(None, NotJson("Frame is not JSON")) from None
    if not isinstance(frame, dict):
        raise BadFrame(None, BadJson("A frame must be a JSON object"))
    kind = frame.get("type")
    request_id = frame.get("id")
    if request_id is None and kind != AUTH:
        raise BadFrame(None, MissingParam("Missing 'id'"))
    if request_id is not None and not _is_request_id(request_id):
        raise BadFrame(
            None, InvalidParam(f"'id' must be a string of at most {MAX_ID_BYTES} bytes or an integer")
        )
    if not isinstance(kind, str) or (kind not in HANDLERS and kind != AUTH):
        raise BadFrame(request_id, Unrecognized("Unknown frame type"))
    try:
        check_depth(frame, data)
    except BadJson as exc:
        raise BadFrame(request_id, exc) from None
    return ClientRequest(request_id, kind, frame)


def _is_request_id(value: object) -> bool:
    if isinstance(value, str):
        return len(value.encode("utf-8")) <= MAX_ID_BYTES
    return isinstance(value, int) and not isinstance(value, bool)


async def perform(app: web.Application, who: Requester, request: ClientRequest) -> dict[str, Any]:
    """Do what `request` asks (any type but auth); the fields its ack carries. Raises MatrixError."""
    return await HANDLERS[request.type](app, who, request.body)


def access_token(request: ClientRequest) -> str:
    token = required(request.body, "access_token", str)
    if not token:
        raise InvalidParam("'access_token' must not be empty")
    return token


def ack_frame(request_id: RequestId | None, fields: dict[str, Any]) -> bytes:
    return orjson.dumps({**fields, "type": "ack", "id": request_id})


def error_frame(request_id: RequestId | None, error: MatrixError) -> bytes:
    return orjson.dumps({**error.to_json(), "type": "error", "id": request_id})


async def _send(app: web.Application, who: Requester, body: dict[str, Any]) -> dict[str, Any]:
    room_id = room_id_value(required(body, "room_id", str))
    event_type = short_value(required(body, "event_type", str), "event_type", MAX_EVENT_TYPE)
    content = body.get("content")
    if content is None:
        raise MissingParam("Missing parameter 'content'")
    if not isinstance(content, dict):
        raise BadJson("Content must be a JSON object")  # as PUT .../send says of its body
    txn_id = short_value(required(body, "txn_id", str), "txn_id", MAX_TXN_ID)
    event = await send_message_event(app, who, room_id, event_type, txn_id, content)
    return {"event_id": event.event_id}


async def _typing(app: web.Application, who: Requester, body: dict[str, Any]) -> dict[str, Any]:
    """PUT /rooms/{room_id}/typing/{user_id} for the socket's own user."""
    room_id = room_id_value(required(body, "room_id", str))
    typing = required(body, "typing", bool)
    timeout_ms = field(body, "timeout", int)
    await app[TYPING].set_typing(who.user_id, room_id, typing, timeout_ms)
    return {}


async def _receipt(app: web.Application, who: Requester, body: dict[str, Any]) -> dict[str, Any]:
    """POST /rooms/{room_id}/receipt/{receipt_type}/{event_id}."""
    room_id = room_id_value(required(body, "room_id", str))
    receipt_type = required(body, "receipt_type", str)
    event_id = EventID(required(body, "event_id", str))
    thread_id = field(body, "thread_id", str)
    await app[RECEIPTS].post(who.user_id, room_id, receipt_type, event_id, thread_id)
    return {}


async def _ping(app: web.Application, who: Requester, body: dict[str, Any]) -> dict[str, Any]:
    return {}


HANDLERS: dict[str, Handler] = {
    "send": _send,
    "typing": _typing,
    "receipt": _receipt,
    "ping": _ping,
}
