"""WebSocket sync, the project's extension (DESIGN.md, "WebSocket sync").

`GET /_matrix/client/unstable/org.homeserver.ws/sync` upgrades to a WebSocket that carries
/sync responses to the client and requests (send, typing, receipt, ping) from it.

Each connection runs two loops: the handler's task reads requests and answers them in order;
one more task pushes sync frames. The pusher pulls: it asks the sync handler for what changed
since the last frame it wrote, writes it, and waits until the socket has drained before it asks
again. A slow reader therefore costs at most one frame on top of the transport's high-water
mark, and when it catches up its next frame covers everything since, with a gappy (`limited`)
timeline where more happened than the timeline limit, exactly as /sync would answer.

The access token is checked again before every request (a cached lookup), and before every
frame in O(1): a frame looks it up again only after a revocation in this process, once the
token has expired, or TOKEN_RECHECK_S after the last lookup (revocations by other processes
reach a process through its cache's TTL). A logged-out device's socket is thus closed with
4401 at its next frame or request.

Frames are written to the transport directly, header and body in one `writelines` (one
system call, the body's bytes not copied): aiohttp's writer copies frames under 16 KiB and
writes the header of a bigger one apart, a system call and a TCP segment of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from clientapi.middleware import (
    authenticate,
    bearer_token,
    error_response,
    from_http,
    long_lived,
    optional_requester,
)
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
from homeserver.appkeys import CONFIG, NOTIFIER, PRESENCE, SYNC, TOKENS
from homeserver.auth.tokens import Requester
from homeserver.clock import now_ms
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
SYNC_HEAD = b'{"type":"sync",'  # a sync frame is this, then the /sync body after its "{"
_NEVER = float("-inf")
_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


@dataclass(frozen=True)
class WsSettings:
    auth_timeout_s: float = 10.0  # for the first-frame auth
    # Ping a socket we heard nothing from for this long; drop it if it then stays silent
    # (no pong) as long again.
    heartbeat_s: float = 30.0
    close_timeout_s: float = 5.0  # wait this long for the client's close frame
    # An idle socket pulls at least this often (plus up to 1/KEEPALIVE_SWEEPS of it); each
    # pull marks the user active, as a /sync does, so it stays under presence's idle timeout
    # (5 min) to keep them online.
    poll_ms: int = 4 * 60 * 1000
    # The kernel's send buffer per socket (None: the kernel's own autotuning, up to MiBs):
    # what a client that stops reading can leave queued in the kernel, stale, before the
    # next frame coalesces. 256 KiB still carries 2.5 MB/s at 100 ms round trips.
    send_buffer_bytes: int | None = 256 * 1024


# A busy socket marks its user active at most this often (a /sync marks per request; presence
# stores nothing new more often than once a minute anyway).
ACTIVE_EVERY_S = 10.0
TOKEN_RECHECK_S = 5.0  # a frame looks its token up again at least this often
KEEPALIVE_SWEEPS = 8  # per poll interval: one timer for all sockets, not one each
HEARTBEAT_BATCH = 500  # pings written between two turns of the event loop
WS_SETTINGS: web.AppKey[WsSettings] = web.AppKey("ws_settings")
WS_CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("ws_connections")


def install(app: web.Application) -> None:
    app[WS_SETTINGS] = WsSettings()
    app[WS_CONNECTIONS] = set()
    app.router.add_get(PATH, websocket_sync)
    app.cleanup_ctx.append(_sweeps)
    app.on_shutdown.append(_close_all)


async def _sweeps(app: web.Application) -> AsyncIterator[None]:
    sweepers = [asyncio.create_task(_sweep_forever(app)), asyncio.create_task(_heartbeats(app))]
    yield
    for sweeper in sweepers:
        sweeper.cancel()
    await asyncio.gather(*sweepers, return_exceptions=True)


async def _heartbeats(app: web.Application) -> None:
    """aiohttp's heartbeat, for all sockets in one task: its own is two timers per socket
    (~0.5 KiB each while armed)."""
    while True:
        await asyncio.sleep(app[WS_SETTINGS].heartbeat_s)
        for i, conn in enumerate([*app[WS_CONNECTIONS]]):  # a copy: the set changes meanwhile
            try:
                await conn.heartbeat()
            except Exception:  # one socket's failure must not end the heartbeats of all
                log.exception("WebSocket heartbeat failed")
            if i % HEARTBEAT_BATCH == HEARTBEAT_BATCH - 1:
                await asyncio.sleep(0)  # let the loop run between batches of pings


async def _sweep_forever(app: web.Application) -> None:
    """Pull for every idle socket whose last pull is a poll interval old: one task for all
    sockets, where a timer each would cost ~0.5 KiB per socket."""
    loop = asyncio.get_running_loop()
    while True:
        poll_s = app[WS_SETTINGS].poll_ms / 1000
        await asyncio.sleep(poll_s / KEEPALIVE_SWEEPS)
        now = loop.time()
        for conn in app[WS_CONNECTIONS]:  # keep_alive only starts tasks: the set stays as it is
            conn.keep_alive(now, poll_s)


async def _close_all(app: web.Application) -> None:
    closing = [
        c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutting down") for c in app[WS_CONNECTIONS]
    ]
    await asyncio.gather(*closing, return_exceptions=True)


@long_lived
async def websocket_sync(request: web.Request) -> web.StreamResponse:
    """Bad query parameters, a bad `Authorization` header or a guest are refused before the
    upgrade, with the HTTP error /sync would give (rendered here: the middlewares pass a
    long-lived request straight on)."""
    try:
        query = parse_sync_query(request.query)
        who = await optional_requester(request)
        sync_filter = await load_filter(request.app, who.user_id, query.filter) if who else None
    except MatrixError as e:
        return error_response(e)
    except Exception:
        log.exception("WebSocket sync upgrade failed")
        return error_response(InternalError("Internal server error"))
    settings = request.app[WS_SETTINGS]
    max_bytes = request.app[CONFIG].max_request_body_bytes
    ws = web.WebSocketResponse(
        heartbeat=None,  # our own, see _heartbeats
        autoping=False,  # pings and pongs come to us: a pong is what the heartbeat waits for
        timeout=settings.close_timeout_s,
        max_msg_size=2 * max_bytes,  # past it aiohttp closes with 1009; up to it, M_TOO_LARGE
        compress=False,  # a deflate context costs ~300 KiB per socket
        decode_text=False,  # bytes straight to orjson; bad UTF-8 is M_NOT_JSON, not a close
    )
    try:
        await ws.prepare(request)
    except web.HTTPException as e:  # not a WebSocket handshake: a JSON error, as everywhere
        return error_response(from_http(e))
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
        presence = request.app[PRESENCE]
        counted = presence.sync_started(who.user_id, query.set_presence)  # online while open
        try:
            await conn.run(query, sync_filter)
        finally:
            request.app[WS_CONNECTIONS].discard(conn)
            if counted:
                presence.sync_ended(who.user_id)
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
        async with asyncio.timeout(timeout_s):
            msg = await _receive(ws)
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


async def _receive(ws: web.WebSocketResponse) -> WSMessage:
    """The next message that is not a ping or a pong; pings are answered (autoping is off)."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.PING:
            with contextlib.suppress(ConnectionError):
                await ws.pong(msg.data)
        elif msg.type is not WSMsgType.PONG:
            return msg


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
    next pump, and so does the app's keep-alive sweep once a poll interval has passed (it
    keeps the user's presence online). An idle socket thus holds a watch: no task, no timer,
    and no reference to its last pump's finished task."""

    __slots__ = (
        "_active_at",
        "_filter",
        "_full_state",
        "_heard",
        "_max_bytes",
        "_pinged",
        "_pump",
        "_pusher_closes",
        "_query",
        "_request",
        "_revocations",
        "_since",
        "_token",
        "_trusted_until",
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
        self._active_at = _NEVER  # loop time the user was last marked active (presence)
        self._revocations = -1  # the token issuer's count of revocations at the last check
        self._trusted_until = _NEVER  # loop time until which the last check holds
        self._heard = True  # a frame (not a pong) came in since the last heartbeat
        self._pinged = False  # a heartbeat sent a ping, unanswered yet

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._request.transport

    @property
    def pump(self) -> asyncio.Task[None] | None:
        """The task writing frames now; None while the socket is idle."""
        return self._pump

    @property
    def parked(self) -> bool:
        """Idle: watching the notifier for news, with no task of its own."""
        return self._watch is not None and self._pump is None

    async def run(self, query: SyncQuery, sync_filter: SyncFilter) -> None:
        """Answer requests in order until the socket closes (in this coroutine: one frame
        less held per socket than a loop of its own)."""
        self._query, self._filter = query, sync_filter
        self._since, self._full_state = query.since, query.full_state
        self._start_pump()
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type is WSMsgType.PONG:
                    self._pinged = False  # the heartbeat's answer, not news: ping again next time
                    continue
                self._heard = True
                if msg.type is WSMsgType.PING:
                    await self.ws.pong(msg.data)
                    continue
                if msg.type not in DATA:
                    return  # closing, closed, or an error aiohttp has already closed for
                answer = await self._answer(msg.data)
                if answer is None or not await self._write(answer, b""):
                    return
        finally:
            if self._watch is not None:
                self._request.app[NOTIFIER].unwatch(self._watch)
                self._watch = None
            pump = self._pump
            if pump is not None:
                if not self._pusher_closes:
                    pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

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
        self._trusted_until = _NEVER  # the next frame checks the new token
        return ack_frame(request.id, {"user_id": who.user_id, "device_id": who.device_id})

    async def _check_token(self) -> MatrixError | None:
        """Why the token is no longer valid (logged out, expired), or None."""
        token = self._token or bearer_token(self._request) or ""
        tokens = self._request.app[TOKENS]
        revocations = tokens.revocations  # before the lookup: one during it is seen next time
        try:
            self.who = await authenticate(self._request, token)
        except MatrixError as e:
            return e
        self._revocations = revocations
        now = asyncio.get_running_loop().time()
        expires_ts = self.who.expires_ts
        left_s = TOKEN_RECHECK_S if expires_ts is None else (expires_ts - now_ms()) / 1000
        self._trusted_until = now + min(TOKEN_RECHECK_S, left_s)
        return None

    def _token_trusted(self) -> bool:
        """Whether the last check still holds: no revocation since, not expired, recent."""
        return (
            self._request.app[TOKENS].revocations == self._revocations
            and asyncio.get_running_loop().time() < self._trusted_until
        )

    async def _close(self, code: int, error: MatrixError) -> None:
        """Tell the client why in an error frame, then close with `code`."""
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_frame(error_frame(None, error), WSMsgType.TEXT)
            await self.ws.close(code=code, message=error.errcode.encode())

    async def _write(self, head: bytes, rest: bytes | memoryview) -> bool:
        """Write the text frame `head` + `rest` and wait until the transport has room again;
        False if the socket is closed or gone."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            return False
        transport.writelines((_text_header(len(head) + len(rest)) + head, rest))
        try:
            await self._request.writer.drain()
        except ConnectionError:
            return False
        return not self.ws.closed

    def _start_pump(self, *, woken: bool = False) -> None:
        """Pull and write what is new: at the start, for the keep-alive sweep, or `woken` by
        the watch. A woken pump counts as working for the notifier (Notifier.settled) while
        it builds frames, until its task ends (even if cancelled before it started); the
        others hold no commit up (a sweep starts many at once)."""
        self._watch = None
        if self._pump is None and not self.ws.closed:
            self._pump = asyncio.create_task(self._push(woken))
            if woken:
                notifier = self._request.app[NOTIFIER]
                notifier.working(+1)
                self._pump.add_done_callback(lambda _: notifier.working(-1))

    def _woken(self) -> None:
        self._start_pump(woken=True)

    async def _push(self, counted: bool) -> None:
        """Frames while there is news, each computed from the token of the frame before it;
        then a watch for the next news, and the task ends. `counted`: the pump counts as
        working for the notifier (see _start_pump), except while it waits for a frame to be
        read."""
        app = self._request.app
        sync, notifier = app[SYNC], app[NOTIFIER]
        try:
            await self._mark_active()
            while not notifier.closed:  # at shutdown: stop pulling
                polled = await sync.poll(self._sync_request(), self._since)
                self._full_state = False
                if polled.response is None:
                    self._since = polled.since
                    if self._park(polled.seen, polled.rooms):
                        return
                    continue
                if counted:
                    notifier.working(-1)  # waiting for a slow client holds no writer up
                try:
                    await self._write_frame(polled.response)
                finally:
                    if counted:
                        notifier.working(+1)
                self._since = polled.since
        except _SocketGone:
            return
        except MatrixError as e:
            self._pusher_closes = True
            await self._close(CLOSE_BAD_REQUEST, e)
        except Exception:
            log.exception("WebSocket sync frame failed")
            self._pusher_closes = True
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"Internal server error")
        finally:
            self._pump = None  # a finished task kept for nothing costs ~0.6 KiB per socket

    async def _mark_active(self) -> None:
        """Mark the user active, as each /sync does, but at most every ACTIVE_EVERY_S."""
        now = asyncio.get_running_loop().time()
        if now - self._active_at >= ACTIVE_EVERY_S:
            self._active_at = now
            await self._request.app[PRESENCE].user_active(self.who.user_id, self._query.set_presence)

    def _sync_request(self) -> SyncRequest:
        who, query = self.who, self._query
        return SyncRequest(
            who.user_id, who.device_id, None, self._filter, self._full_state, 0, query.set_presence
        )

    def _park(self, seen: SyncToken, rooms: list[RoomID]) -> bool:
        """Watch for news after `seen`; False if some came in already (pull again now)."""
        app = self._request.app
        sync = app[SYNC]
        watch = app[NOTIFIER].watch(self.who.user_id, rooms, self._woken)
        if sync.current_token() != seen:
            app[NOTIFIER].unwatch(watch)
            return False
        self._watch = watch
        return True

    async def heartbeat(self) -> None:
        """Called every heartbeat interval: ping a socket that sent nothing but pongs since
        the last call, and drop one that left the last ping unanswered (as aiohttp's heartbeat
        would: the transport is closed, the reader sees the socket end)."""
        heard, self._heard = self._heard, False
        if heard:
            self._pinged = False
            return
        transport = self.transport
        if transport is None or self.ws.closed:
            return
        if self._pinged:
            transport.close()
        elif transport.get_write_buffer_size() == 0:  # else the ping could wait for a drain
            self._pinged = True
            with contextlib.suppress(ConnectionError):
                await self.ws.ping()

    def keep_alive(self, now: float, poll_s: float) -> None:
        """Pull now if idle and not marked active for `poll_s` (loop time `now`), as a /sync
        client's next request would: it keeps the user's presence online. Called by the
        app's keep-alive sweep."""
        if self._watch is not None and now - self._active_at >= poll_s and not self.ws.closed:
            self._request.app[NOTIFIER].unwatch(self._watch)
            self._active_at = _NEVER  # this pull is for presence: it marks, however recent
            self._start_pump()

    async def _write_frame(self, body: dict[str, Any]) -> None:
        """Check the token (a logged-out device's socket is closed), then write `body` as a
        sync frame: its JSON, encoded once, after SYNC_HEAD in place of its "{"."""
        token_error = None if self._token_trusted() else await self._check_token()
        if token_error is not None:
            self._pusher_closes = True
            await self._close(CLOSE_UNAUTHORIZED, token_error)
            raise _SocketGone
        if not await self._write(SYNC_HEAD, memoryview(dumps(body))[1:]):
            raise _SocketGone


def _text_header(length: int) -> bytes:
    """The header of an unmasked, unfragmented text frame of `length` bytes (RFC 6455 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return _LEN16.pack(0x81, 126, length)
    return _LEN64.pack(0x81, 127, length)


class _SocketGone(Exception):
    """The socket closed (or was closed) under the pusher."""
