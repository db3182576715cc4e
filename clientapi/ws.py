"""WebSocket sync, the project's extension (DESIGN.md, "WebSocket sync").

`GET /_matrix/client/unstable/org.homeserver.ws/sync` upgrades to a WebSocket that carries
/sync responses to the client and requests (send, typing, receipt, ping) from it.

Each connection runs two loops: the handler's task reads requests and answers them in order;
one more task pushes sync frames. The pusher pulls: it asks the sync handler for what changed
since the last frame it wrote, writes it, and waits until the socket has drained before it asks
again. A slow reader therefore costs at most one frame on top of the transport's high-water
mark, and when it catches up its next frame covers everything since, with a gappy (`limited`)
timeline where more happened than the timeline limit, exactly as /sync would answer.

The access token is checked again before every frame and every request (a cached lookup), so
a logged-out device's socket is closed with 4401 at its next frame or request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from clientapi.middleware import authenticate, bearer_token, maybe_requester, optional_auth
from clientapi.responses import dumps
from clientapi.routes.sync import SyncQuery, load_filter, parse_sync_query
from clientapi.ws_requests import (
    AUTH,
    BadFrame,
    ClientRequest,
    access_token,
    ack_frame,
    error_frame,
    parse_request,
    perform,
)
from homeserver.appkeys import CONFIG, NOTIFIER, PRESENCE, SYNC
from homeserver.auth.tokens import Requester
from homeserver.errors import Forbidden, InternalError, MatrixError
from homeserver.filters import SyncFilter
from homeserver.ids import RoomID
from homeserver.notifier import Watch
from homeserver.sync.request import SyncRequest
from homeserver.sync.tokens import SyncToken

log = logging.getLogger(__name__)

PATH = "/_matrix/client/unstable/org.homeserver.ws/sync"
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


@dataclass(frozen=True)
class WsSettings:
    auth_timeout_s: float = 10.0  # for the first-frame auth
    heartbeat_s: float = 30.0  # ping an idle socket this often; close it without a pong
    close_timeout_s: float = 5.0  # wait this long for the client's close frame
    # Each wait for news lasts at most this long; each wait marks the user active, as a
    # /sync does, so it stays under presence's idle timeout (5 min) to keep them online.
    poll_ms: int = 4 * 60 * 1000
    # The kernel's send buffer per socket (None: the kernel's own autotuning, up to MiBs):
    # what a client that stops reading can leave queued in the kernel, stale, before the
    # next frame coalesces. 256 KiB still carries 2.5 MB/s at 100 ms round trips.
    send_buffer_bytes: int | None = 256 * 1024


WS_SETTINGS: web.AppKey[WsSettings] = web.AppKey("ws_settings")
WS_CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("ws_connections")


def install(app: web.Application) -> None:
    app[WS_SETTINGS] = WsSettings()
    app[WS_CONNECTIONS] = set()
    app.router.add_get(PATH, websocket_sync)
    app.on_shutdown.append(_close_all)


async def _close_all(app: web.Application) -> None:
    closing = [
        c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutting down") for c in app[WS_CONNECTIONS]
    ]
    await asyncio.gather(*closing, return_exceptions=True)


@optional_auth
async def websocket_sync(request: web.Request) -> web.StreamResponse:
    """Bad query parameters, a bad `Authorization` header or a guest are refused before the
    upgrade, with the HTTP error /sync would give."""
    query = parse_sync_query(request.query)
    who = maybe_requester(request)
    sync_filter = await load_filter(request.app, who.user_id, query.filter) if who else None
    settings = request.app[WS_SETTINGS]
    max_bytes = request.app[CONFIG].max_request_body_bytes
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat_s,
        timeout=settings.close_timeout_s,
        max_msg_size=2 * max_bytes,  # past it aiohttp closes with 1009; up to it, M_TOO_LARGE
        compress=False,  # a deflate context costs ~300 KiB per socket
        decode_text=False,  # bytes straight to orjson; bad UTF-8 is M_NOT_JSON, not a close
    )
    await ws.prepare(request)
    _limit_send_buffer(request, settings.send_buffer_bytes)
    try:
        token = None  # the Authorization header's, read again when needed (aiohttp keeps it)
        if who is None:
            authenticated = await _first_frame_auth(request, ws, settings.auth_timeout_s, max_bytes)
            if authenticated is None:
                return ws
            token, who = authenticated
            sync_filter = await _filter_or_close(request, ws, who, query.filter)
        if sync_filter is None:
            return ws
        conn = Connection(request, ws, token, who, max_bytes)
        request.app[WS_CONNECTIONS].add(conn)
        try:
            with request.app[PRESENCE].syncing(who.user_id, query.set_presence):  # online while open
                await conn.run(query, sync_filter)
        finally:
            request.app[WS_CONNECTIONS].discard(conn)
    except ConnectionError:
        pass  # the client went away while we were writing to it
    except Exception:
        log.exception("WebSocket sync failed")
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"Internal server error")
    return ws


def _limit_send_buffer(request: web.Request, size: int | None) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport and size else None
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


async def _first_frame_auth(
    request: web.Request, ws: web.WebSocketResponse, timeout_s: float, max_bytes: int
) -> tuple[str, Requester] | None:
    """The token of a first frame `{"type": "auth", "access_token": ...}` and its requester
    (acked), or None once the socket is closed with 4401."""
    try:
        msg = await ws.receive(timeout=timeout_s)
    except TimeoutError:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"No auth frame in time")
        return None
    if msg.type not in DATA:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"Expected an auth frame")
        return None
    request_id = None
    try:
        auth = parse_request(msg.data, max_bytes)
        request_id = auth.id
        if auth.type != AUTH:
            raise Forbidden("The first frame must be an auth frame")
        token = access_token(auth)
        who = await authenticate(request, token)
    except (BadFrame, MatrixError) as e:
        error = e.error if isinstance(e, BadFrame) else e
        await ws.send_frame(error_frame(request_id, error), WSMsgType.TEXT)
        await ws.close(code=CLOSE_UNAUTHORIZED, message=error.errcode.encode())
        return None
    await ws.send_frame(
        ack_frame(request_id, {"user_id": who.user_id, "device_id": who.device_id}), WSMsgType.TEXT
    )
    return token, who


async def _filter_or_close(
    request: web.Request, ws: web.WebSocketResponse, who: Requester, given: SyncFilter | str
) -> SyncFilter | None:
    try:
        return await load_filter(request.app, who.user_id, given)
    except MatrixError as e:
        await ws.send_frame(error_frame(None, e), WSMsgType.TEXT)
        await ws.close(code=CLOSE_BAD_REQUEST, message=e.errcode.encode())
        return None


class Connection:
    """One authenticated socket: answers requests, pushes sync frames.

    The handler's task reads requests and answers them in order. Frames are pushed by a
    pump task that runs only while there is news: it pulls what changed since the last
    frame it wrote, writes it, waits until the socket has drained, and pulls again; once
    nothing is new it registers a `Watch` with the notifier and ends. The watch starts the
    next pump. An idle socket thus holds a watch and one timer (presence), not a parked task."""

    __slots__ = (
        "_filter",
        "_full_state",
        "_last_pump",
        "_max_bytes",
        "_pump",
        "_pusher_closes",
        "_query",
        "_request",
        "_since",
        "_timer",
        "_token",
        "_watch",
        "who",
        "ws",
    )

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        token: str | None,
        who: Requester,
        max_bytes: int,
    ) -> None:
        self._request = request
        self.ws = ws
        self._token = token
        self.who = who
        self._max_bytes = max_bytes
        self._pusher_closes = False  # the pusher is closing the socket: let it finish
        self._pump: asyncio.Task[None] | None = None
        self._watch: Watch | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_pump = 0.0  # loop time the last pump started (presence keep-alive)

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._request.transport

    @property
    def pump(self) -> asyncio.Task[None] | None:
        """The task writing frames now, or the last one (done once the socket is idle)."""
        return self._pump

    @property
    def parked(self) -> bool:
        """Idle: watching the notifier for news, with no task of its own."""
        return self._watch is not None and (self._pump is None or self._pump.done())

    async def run(self, query: SyncQuery, sync_filter: SyncFilter) -> None:
        self._query, self._filter = query, sync_filter
        self._since, self._full_state = query.since, query.full_state
        self._start_pump()
        try:
            await self._serve()
        finally:
            if self._watch is not None:
                self._request.app[NOTIFIER].unwatch(self._watch)
            if self._timer is not None:
                self._timer.cancel()
            self._watch = self._timer = None
            pump = self._pump
            if pump is not None:
                if not self._pusher_closes:
                    pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def _serve(self) -> None:
        """Answer requests in order until the socket closes."""
        while True:
            msg = await self.ws.receive()
            if msg.type not in DATA:
                return  # closing, closed, or an error aiohttp has already closed for
            answer = await self._answer(msg.data)
            if answer is None or not await self._write(answer):
                return

    async def _answer(self, data: bytes | str) -> bytes | None:
        """The ack or error frame for one request; None once the socket is closed."""
        try:
            request = parse_request(data, self._max_bytes)
        except BadFrame as e:
            return error_frame(e.request_id, e.error)
        if request.type != AUTH:  # a new token may come in after the old one expired
            token_error = await self._check_token()
            if token_error is not None:
                await self._close(CLOSE_UNAUTHORIZED, token_error)
                return None
        try:
            if request.type == AUTH:
                return await self._reauthenticate(request)
            return ack_frame(request.id, await perform(self._request.app, self.who, request))
        except MatrixError as e:
            return error_frame(request.id, e)
        except Exception:
            log.exception("WebSocket %s request failed", request.type)
            return error_frame(request.id, InternalError("Internal server error"))

    async def _reauthenticate(self, request: ClientRequest) -> bytes:
        """A new token for the same device (say, after /refresh) keeps the socket open."""
        token = access_token(request)
        who = await authenticate(self._request, token)
        if (who.user_id, who.device_id) != (self.who.user_id, self.who.device_id):
            raise Forbidden("The new access token must be for the same user and device")
        self._token, self.who = token, who
        return ack_frame(request.id, {"user_id": who.user_id, "device_id": who.device_id})

    async def _check_token(self) -> MatrixError | None:
        """Why the token is no longer valid (logged out, expired), or None."""
        token = self._token or bearer_token(self._request) or ""
        try:
            self.who = await authenticate(self._request, token)
        except MatrixError as e:
            return e
        return None

    async def _close(self, code: int, error: MatrixError) -> None:
        """Tell the client why in an error frame, then close with `code`."""
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_frame(error_frame(None, error), WSMsgType.TEXT)
            await self.ws.close(code=code, message=error.errcode.encode())

    async def _write(self, frame: bytes) -> bool:
        """Write a frame and wait until the transport has room again; False if it is gone."""
        try:
            await self.ws.send_frame(frame, WSMsgType.TEXT)
            await self._request.writer.drain()
        except ConnectionError:
            return False
        return not self.ws.closed

    def _start_pump(self) -> None:
        """Called by the watch or the keep-alive timer: pull and write what is new."""
        self._watch = None
        if self.ws.closed or (self._pump is not None and not self._pump.done()):
            return
        self._last_pump = asyncio.get_running_loop().time()
        self._pump = asyncio.create_task(self._push())

    async def _push(self) -> None:
        """Frames while there is news, each computed from the token of the frame before it;
        then a watch for the next news, and the task ends."""
        app = self._request.app
        try:
            await app[PRESENCE].user_active(self.who.user_id, self._query.set_presence)
            while not app[NOTIFIER].closed:  # at shutdown: stop pulling
                polled = await app[SYNC].poll(self._sync_request(), self._since)
                self._full_state = False
                if polled.response is None:
                    self._since = polled.since
                    if self._park(polled.seen, polled.rooms):
                        return
                    continue
                await self._write_frame(polled.response)
                self._since = SyncToken.parse(polled.response["next_batch"])
        except _SocketGone:
            return
        except MatrixError as e:
            self._pusher_closes = True
            await self._close(CLOSE_BAD_REQUEST, e)
        except Exception:
            log.exception("WebSocket sync frame failed")
            self._pusher_closes = True
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"Internal server error")

    def _sync_request(self) -> SyncRequest:
        who, query = self.who, self._query
        return SyncRequest(
            who.user_id, who.device_id, None, self._filter, self._full_state, 0, query.set_presence
        )

    def _park(self, seen: SyncToken, rooms: list[RoomID]) -> bool:
        """Watch for news after `seen`; False if some came in already (pull again now)."""
        app = self._request.app
        sync = app[SYNC]
        watch = app[NOTIFIER].watch(self.who.user_id, rooms, self._start_pump)
        if sync.current_token() != seen:
            app[NOTIFIER].unwatch(watch)
            return False
        self._watch = watch
        if self._timer is None:
            self._arm_keepalive()
        return True

    def _arm_keepalive(self) -> None:
        """Pull at least every poll interval, as a /sync client would: it keeps the user's
        presence online. One timer per socket, re-armed from the last pump, not per frame."""
        loop = asyncio.get_running_loop()
        poll_s, now = self._request.app[WS_SETTINGS].poll_ms / 1000, loop.time()
        due = self._last_pump + poll_s
        self._timer = loop.call_at(due if due > now else now + poll_s, self._keepalive)

    def _keepalive(self) -> None:
        self._timer = None
        if self.ws.closed:
            return
        poll_s = self._request.app[WS_SETTINGS].poll_ms / 1000
        if self._watch is not None and asyncio.get_running_loop().time() - self._last_pump >= poll_s:
            self._request.app[NOTIFIER].unwatch(self._watch)
            self._start_pump()
        self._arm_keepalive()

    async def _write_frame(self, body: dict[str, Any]) -> None:
        """Check the token (a logged-out device's socket is closed), then write `body`."""
        token_error = await self._check_token()
        if token_error is not None:
            self._pusher_closes = True
            await self._close(CLOSE_UNAUTHORIZED, token_error)
            raise _SocketGone
        if not await self._write(dumps({"type": "sync", **body})):
            raise _SocketGone


class _SocketGone(Exception):
    """The socket closed (or was closed) under the pusher."""
