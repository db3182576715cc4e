"""A homeserver under test, and a small Matrix client to drive it over real HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from homeserver.app import make_app
from homeserver.config import Config

CLIENT_PREFIX = "/_matrix/client/v3"
DEFAULT_PASSWORD = "correct horse battery"


class MatrixClient:
    """Requests as one user (or anonymously). Paths not starting with '/_matrix', '/.well-known'
    or '/health' are taken relative to /_matrix/client/v3."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        access_token: str | None = None,
        user_id: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.access_token = access_token
        self.user_id = user_id
        self.device_id = device_id
        self.password = DEFAULT_PASSWORD

    def url(self, path: str) -> str:
        if not path.startswith(("/_matrix", "/.well-known", "/health", "/static", "/?")) and path != "/":
            path = CLIENT_PREFIX + path
        return self.base_url + path

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int = 200,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        all_headers = dict(headers or {})
        if self.access_token and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.access_token}"
        if body is not None:
            data = orjson.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        async with self.http.request(
            method, self.url(path), data=data, headers=all_headers, params=params
        ) as resp:
            raw = await resp.read()
            self.last_response = resp
            assert resp.status == expect, (
                f"{method} {path}: expected {expect}, got {resp.status}: {raw[:500]!r}"
            )
            if resp.content_type == "application/json":
                return orjson.loads(raw)
            return raw

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("POST", path, {} if body is None and "data" not in kw else body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("PUT", path, {} if body is None and "data" not in kw else body, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("DELETE", path, body, **kw)

    def password_auth(self, session: str | None = None) -> dict[str, Any]:
        auth: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.user_id},
            "password": self.password,
        }
        if session is not None:
            auth["session"] = session
        return auth


class HomeserverUnderTest:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.app: web.Application = make_app(config)
        self._server: TestServer | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()
        self.base_url = str(self._server.make_url("")).rstrip("/")
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._server is not None:
            await self._server.close()

    def client(self, access_token: str | None = None) -> MatrixClient:
        assert self._http is not None
        return MatrixClient(self._http, self.base_url, access_token)

    async def register(self, username: str, password: str = DEFAULT_PASSWORD, **extra: Any) -> MatrixClient:
        """Register through the real UIA dance (m.login.dummy) and return a logged-in client."""
        anon = self.client()
        body = {"username": username, "password": password, **extra}
        challenge = await anon.post("/register", body, expect=401)
        body["auth"] = {"type": "m.login.dummy", "session": challenge["session"]}
        result = await anon.post("/register", body)
        client = self.client(result["access_token"])
        client.user_id, client.device_id, client.password = result["user_id"], result["device_id"], password
        return client

    async def login(self, username: str, password: str = DEFAULT_PASSWORD, **extra: Any) -> MatrixClient:
        anon = self.client()
        result = await anon.post(
            "/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": username},
                "password": password,
            }
            | extra,
        )
        client = self.client(result["access_token"])
        client.user_id, client.device_id, client.password = result["user_id"], result["device_id"], password
        return client

    def with_config(self, **changes: Any) -> Config:
        return dataclasses.replace(self.config, **changes)
