"""Helpers shared by the client API tests."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from homeserver.appkeys import DATABASE, DEVICES, USERS
from homeserver.ids import DeviceID, UserID
from homeserver.storage.tables import short_lived_tokens
from tests.helpers import HomeserverUnderTest, MatrixClient

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
}


def assert_error(body: Any, errcode: str) -> None:
    assert isinstance(body, dict), body
    assert body.get("errcode") == errcode, body
    assert isinstance(body.get("error", ""), str)


def assert_cors(client: MatrixClient) -> None:
    headers = client.last_response.headers
    for name, value in CORS.items():
        assert headers.get(name) == value, (name, dict(headers))


async def user_count(hs: HomeserverUnderTest) -> int:
    return await hs.app[USERS].count()


async def short_token_hashes(hs: HomeserverUnderTest, kind: str | None = None) -> list[str]:
    """What the database holds of the OpenID ("openid") or login ("login") tokens issued (of
    both kinds when `kind` is None)."""
    table = short_lived_tokens.c
    query = select(table.token_hash)
    rows = await hs.app[DATABASE].fetch_all(query if kind is None else query.where(table.kind == kind))
    return [r.token_hash for r in rows]


async def password_hash(hs: HomeserverUnderTest, user_id: str | None) -> str | None:
    assert user_id is not None
    user = await hs.app[USERS].get(UserID(user_id))
    assert user is not None
    return user.password_hash


async def device_ids(hs: HomeserverUnderTest, user_id: str | None) -> set[str]:
    assert user_id is not None
    return {d.device_id for d in await hs.app[DEVICES].list_for(UserID(user_id))}


async def has_device(hs: HomeserverUnderTest, user_id: str | None, device_id: str | None) -> bool:
    assert user_id is not None and device_id is not None
    return await hs.app[DEVICES].get(UserID(user_id), DeviceID(device_id)) is not None


async def raw_request(hs: HomeserverUnderTest, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes the HTTP client libraries refuse to send (bad header encodings and the like);
    return the status and the response body."""
    url = urlsplit(hs.base_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head + b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), payload


async def uia_session(client: MatrixClient, method: str, path: str, body: dict[str, Any]) -> str:
    """Start a UIA session on an endpoint and return its session ID."""
    challenge = await client.request(method, path, body, expect=401)
    assert {"stages": ["m.login.password"]} in challenge["flows"], challenge
    session = challenge["session"]
    assert isinstance(session, str)
    return session
