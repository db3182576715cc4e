"""A small client for the WebSocket sync: connect, read sync frames, make requests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from yarl import URL

from tests.helpers import MatrixClient

WS_PATH = "/_matrix/client/unstable/org.homeserver.ws/sync"
WAIT_S = 30.0  # a frame that is due arrives long before this; only a bug waits it out


class SyncSocket:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._syncs: deque[dict[str, Any]] = deque()  # sync frames read while awaiting a reply

    async def frame(self) -> dict[str, Any]:
        """The next frame of any type."""
        msg = await self.ws.receive(timeout=WAIT_S)
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, self.ws.close_code)
        frame: dict[str, Any] = orjson.loads(msg.data)
        return frame

    async def sync(self) -> dict[str, Any]:
        """The next sync frame, without its "type"."""
        while not self._syncs:
            frame = await self.frame()
            assert frame["type"] == "sync", frame
            self._syncs.append(frame)
        frame = self._syncs.popleft()
        return {k: v for k, v in frame.items() if k != "type"}

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def reply(self) -> dict[str, Any]:
        """The next ack or error frame; sync frames read meanwhile are kept for `sync()`."""
        while True:
            frame = await self.frame()
            if frame["type"] != "sync":
                return frame
            self._syncs.append(frame)

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a request with a fresh id; its ack or error."""
        request_id = f"r{next(self._ids)}"
        await self.ws.send_bytes(orjson.dumps({"type": kind, "id": request_id, **fields}))
        answer = await self.reply()
        assert answer["id"] == request_id, answer
        return answer

    def stop_reading(self) -> None:
        """Read nothing more from the socket (as a stalled client): the kernel's buffers fill,
        then the server's."""
        self._transport().pause_reading()

    def read_again(self) -> None:
        self._transport().resume_reading()

    def _transport(self) -> asyncio.Transport:
        conn = self.ws._response.connection
        assert conn is not None and conn.transport is not None
        return conn.transport

    def kill(self) -> None:
        """Drop the connection as a crashed client would: no close frame."""
        self.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)

    async def closed(self) -> int | None:
        """Read until the server closes; its close code."""
        while True:
            msg = await self.ws.receive(timeout=WAIT_S)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return int(msg.data)  # the server's code, whatever happens to our reply
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return self.ws.close_code


def ws_url(client: MatrixClient, params: dict[str, str] | None = None) -> URL:
    return URL(client.url(WS_PATH)).with_query(params or {})


@asynccontextmanager
async def sync_socket(
    client: MatrixClient,
    params: dict[str, str] | None = None,
    *,
    header_auth: bool = True,
    rcvbuf: int | None = None,
    autoping: bool = True,
) -> AsyncIterator[SyncSocket]:
    """A socket of its own (own session, so it can be killed), authenticated by header or,
    with `header_auth=False`, not at all (the test sends the auth frame). `rcvbuf`: a small
    kernel receive buffer, set before connecting, for a client that reads slowly.
    `autoping=False`: the server's pings reach the test, which answers them or not."""

    def small_buffer_socket(addr_info: Any) -> socket.socket:
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family, kind, proto)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        return sock

    headers = {"Authorization": f"Bearer {client.access_token}"} if header_auth else {}
    connector = aiohttp.TCPConnector(socket_factory=small_buffer_socket)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws = await session.ws_connect(
            ws_url(client, params), headers=headers, max_msg_size=0, autoping=autoping
        )
        try:
            yield SyncSocket(ws)
        finally:
            with contextlib.suppress(Exception):  # killed sockets cannot close
                await ws.close()


def timeline(frame: dict[str, Any], room_id: str) -> list[dict[str, Any]]:
    room = frame["rooms"]["join"].get(room_id)
    return room["timeline"]["events"] if room else []
