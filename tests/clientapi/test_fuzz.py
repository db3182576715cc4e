"""Fuzzing every client endpoint with hostile input (hypothesis), on SQLite and PostgreSQL.

The endpoints are read from the application's router, so a new route is fuzzed as soon as
it exists. Each gets random JSON and raw bytes as bodies (invalid UTF-8, NUL bytes, deep
nesting, numbers no parser can hold, very long strings), near-valid bodies and queries,
odd query strings and headers (non-ASCII values), path parameters both plausible and
hostile, with and without a valid token. A second test writes HTTP requests by hand on a
socket, for bytes that no client library sends. The server must never answer 5xx, and every
error must be Matrix JSON with an `errcode`.

`pytest --hypothesis-show-statistics tests/clientapi/test_fuzz.py` shows how the statuses
spread per endpoint; FUZZ_EXAMPLES=200 runs a deeper fuzz."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from homeserver.app import make_app
from homeserver.appkeys import TOKENS
from homeserver.clock import now_ms
from homeserver.config import PasswordHashing, RateLimits, load_config
from homeserver.errors import UnknownToken
from tests.clientapi import fuzz_strategies as fs
from tests.conftest import PG_URL
from tests.helpers import DEFAULT_PASSWORD, HomeserverUnderTest
from tests.homeserver.storage_helpers import fresh_pg_schema

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIENT_PREFIXES = ("/_matrix/client/", "/.well-known/matrix/")
R0 = "/_matrix/client/r0/"
# Guards against a request that never ends (a hang would otherwise stall the run); it bounds
# the wait, it does not time the server.
HANG_GUARD = aiohttp.ClientTimeout(total=120)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with {placeholders}

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def client_endpoints() -> list[Endpoint]:
    """Every client API route of the application, from its router (r0 aliases share the
    handlers of their v3 routes and are left out)."""
    app = make_app(dataclasses.replace(load_config(None, env={}), serve_web_client=False))
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "OPTIONS") or not isinstance(path, str):
            continue
        if path.startswith(CLIENT_PREFIXES) and not path.startswith(R0):
            found.add(Endpoint(route.method, path))
    return sorted(found, key=lambda e: (e.path, e.method))


ENDPOINTS = client_endpoints()


def examples_per_endpoint(endpoints: int) -> int:
    """A budget for the whole file rather than a fixed count per endpoint, so that the run
    stays near a minute as routes are added: 25 examples per endpoint and database while
    there are few endpoints, never fewer than 10. FUZZ_EXAMPLES=n asks for a deeper run."""
    if os.environ.get("FUZZ_EXAMPLES"):
        return int(os.environ["FUZZ_EXAMPLES"])
    return max(10, min(25, 1000 // max(endpoints, 1)))


FUZZ_SETTINGS = settings(
    max_examples=examples_per_endpoint(len(ENDPOINTS)),
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RAW_EXAMPLES = 100


# The server under fuzz: one per database for the whole module, with a user and a room.


@dataclasses.dataclass
class Target:
    hs: HomeserverUnderTest
    http: aiohttp.ClientSession
    token: str
    ids: dict[str, str]  # user_id, device_id, room_id, event_id: the user's own

    async def valid_token(self) -> str:
        """The user's token, logging in again if an earlier example logged it out."""
        try:
            await self.hs.app[TOKENS].authenticate(self.token, now_ms())
        except UnknownToken:
            client = await self.hs.login("fuzzer")
            assert client.access_token and client.device_id
            self.token, self.ids["device_id"] = client.access_token, client.device_id
        return self.token

    def plausible(self) -> dict[str, list[str]]:
        """Path parameter values that name things which exist (or almost)."""
        ids, server = self.ids, self.hs.config.server_name
        return {
            "user_id": [ids["user_id"], f"@nobody:{server}"],
            "device_id": [ids["device_id"], "NOSUCHDEVICE"],
            "room_id": [ids["room_id"], f"!nosuchroom:{server}"],
            "room_id_or_alias": [ids["room_id"], f"#fuzz:{server}", f"!nosuchroom:{server}"],
            "room_alias": [f"#fuzz:{server}", f"#other:{server}"],
            "event_id": [ids["event_id"], "$nosuchevent"],
            "event_type": ["m.room.message", "m.room.name", "m.room.member", "m.room.power_levels"],
            "state_key": ["", ids["user_id"]],
            "txn_id": ["txn"],
            "rel_type": ["m.thread", "m.annotation", "m.reference"],
            "key_name": ["displayname", "avatar_url"],
            "type": ["m.fully_read", "m.direct", "org.example.fuzz"],
            "tag": ["m.favourite", "u.fuzz"],
            "filter_id": ["0", "1"],
        }


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    config = dataclasses.replace(
        load_config(None, env={}),
        data_dir=str(tmp_path_factory.mktemp("fuzz") / "data"),
        password_hashing=PasswordHashing(opslimit=1, memlimit=8192, min_length=8),
        rate_limits=RateLimits(enabled=False),
    )
    assert fs.PASSWORD == DEFAULT_PASSWORD and fs.SERVER == config.server_name
    async with database_options(request.param) as db_options:
        hs = HomeserverUnderTest(dataclasses.replace(config, **db_options))
        await hs.start()
        try:
            fuzzer = await hs.register("fuzzer")
            room_id = (await fuzzer.post("/createRoom", {"name": "fuzz"}))["room_id"]
            message = {"msgtype": "m.text", "body": "hello"}
            event_id = (await fuzzer.put(f"/rooms/{room_id}/send/m.room.message/t1", message))["event_id"]
            assert fuzzer.access_token and fuzzer.user_id and fuzzer.device_id
            ids = {
                "user_id": fuzzer.user_id,
                "device_id": fuzzer.device_id,
                "room_id": room_id,
                "event_id": event_id,
            }
            async with aiohttp.ClientSession(timeout=HANG_GUARD) as http:
                yield Target(hs, http, fuzzer.access_token, ids)
        finally:
            await hs.stop()


def database_options(backend: str) -> contextlib.AbstractAsyncContextManager[dict[str, Any]]:
    """Config changes for an empty database of the given kind (a fresh PostgreSQL schema)."""
    if backend == "sqlite":
        return contextlib.nullcontext({})

    @contextlib.asynccontextmanager
    async def postgres() -> AsyncIterator[dict[str, Any]]:
        async with fresh_pg_schema(PG_URL, "hs_fuzz") as schema:
            yield {"database_url": PG_URL, "database_schema": schema}

    return postgres()


def assert_matrix_response(status: int, content_type: str, body: bytes, what: str) -> None:
    """Never a 5xx; every error is JSON with an errcode (or a UIA 401 with its flows)."""
    assert status < 500, f"{what} -> {status}: {body[:300]!r}"
    if status < 400:
        return
    assert content_type == "application/json", f"{what} -> {status} {content_type}: {body[:300]!r}"
    error = orjson.loads(body)
    assert isinstance(error, dict), f"{what} -> {status}: {body[:300]!r}"
    if status == 401 and "flows" in error and "errcode" not in error:
        return  # the first step of User-Interactive Auth carries flows, not an error code
    errcode = error.get("errcode")
    assert isinstance(errcode, str) and errcode.startswith("M_"), f"{what} -> {status}: {body[:300]!r}"


# Through an HTTP client library


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@FUZZ_SETTINGS
@given(data=st.data())
async def test_fuzz_endpoint(target: Target, endpoint: Endpoint, data: st.DataObject) -> None:
    key = str(endpoint)
    plausible = target.plausible()
    path = endpoint.path
    for name in endpoint.params:
        value = data.draw(fs.path_values(name, plausible), label=name)
        path = path.replace("{" + name + "}", quote(value, safe="") or "%20", 1)
    body = data.draw(fs.bodies_for(key, target.ids), label="body")
    query = data.draw(fs.queries_for(key, target.ids), label="query")
    headers: dict[str, str] = {}
    authorization = data.draw(fs.authorizations(await target.valid_token()), label="authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    content_type = data.draw(st.sampled_from(fs.CONTENT_TYPES), label="content-type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    headers["User-Agent"] = data.draw(fs.header_text, label="user-agent")  # sent as raw UTF-8
    what = f"{endpoint.method} {path}?{query} body={(body or b'')[:200]!r} headers={headers}"
    note(what)

    async with target.http.request(
        endpoint.method, target.hs.base_url + path, params=query, data=body, headers=headers
    ) as resp:
        raw = await resp.read()
        event(f"status {resp.status}")  # --hypothesis-show-statistics shows the spread
        assert_matrix_response(resp.status, resp.content_type, raw, what)


# By hand, on a socket: bytes that client libraries refuse to send


@settings(FUZZ_SETTINGS, max_examples=RAW_EXAMPLES)
@given(data=st.data())
async def test_fuzz_raw_http(target: Target, data: st.DataObject) -> None:
    endpoint = data.draw(st.sampled_from(ENDPOINTS), label="endpoint")
    plausible = target.plausible()
    path = endpoint.path
    for name in endpoint.params:
        known = fs.path_values(name, plausible).map(lambda v: quote(v, safe="") or "x")
        path = path.replace("{" + name + "}", data.draw(st.one_of(known, fs.segment), label=name), 1)
    if endpoint.method == "GET" and endpoint.path.endswith("/sync"):
        path += "?timeout=0&"  # never a long poll
    query = data.draw(st.lists(st.tuples(fs.segment, fs.segment), max_size=3), label="query")
    if query:
        path += ("&" if "?" in path else "?") + "&".join(f"{k}={v}" for k, v in query)
    token = (await target.valid_token()).encode()
    authorization = data.draw(
        st.one_of(st.just(b"Bearer " + token), st.none(), fs.header_bytes.map(lambda b: b"Bearer " + b)),
        label="authorization",
    )
    headers = [b"Host: " + data.draw(st.one_of(st.just(b"localhost"), fs.header_bytes), label="host")]
    if authorization is not None:
        headers.append(b"Authorization: " + authorization)
    for header in (b"Content-Type", b"User-Agent", b"Origin", b"Accept-Language"):
        header_value = data.draw(st.one_of(st.none(), fs.header_bytes), label=header.decode())
        if header_value is not None:
            headers.append(header + b": " + header_value)
    body = data.draw(
        st.one_of(st.sampled_from(fs.SMALL_HOSTILE_BODIES), st.binary(max_size=200)), label="body"
    )
    request = (
        endpoint.method.encode() + b" " + path.encode() + b" HTTP/1.1\r\n"
        + b"".join(h.strip() + b"\r\n" for h in headers)
        + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )  # fmt: skip
    note(repr(request[:500]))

    status, content_type, payload = await send_raw(target.hs.base_url, request)

    event(f"status {status}")
    assert_matrix_response(status, content_type, payload, repr(request[:300]))


# Every path parameter of every endpoint, each hostile value in turn (the others plausible):
# the fuzz above finds these only by chance.
PATH_HOSTILES = ["\x00", "a\x00b", "\uffff", "x" * 5_000, "%FF", "..", "@:"]


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.params], ids=str)
async def test_hostile_path_parameters(target: Target, endpoint: Endpoint) -> None:
    token = await target.valid_token()
    plausible = target.plausible()
    for name in endpoint.params:
        for hostile in PATH_HOSTILES:
            path = endpoint.path
            for param in endpoint.params:
                value = hostile if param == name else plausible.get(param, ["x"])[0]
                path = path.replace("{" + param + "}", quote(value, safe="") or "%20", 1)
            async with target.http.request(
                endpoint.method,
                target.hs.base_url + path,
                data=b"{}",
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                raw = await resp.read()
                assert_matrix_response(resp.status, resp.content_type, raw, f"{endpoint.method} {path}")
            token = await target.valid_token()


async def send_raw(base_url: str, request: bytes) -> tuple[int, str, bytes]:
    """Send one hand-written request; return the status, content type and body."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), HANG_GUARD.total)
    finally:
        writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    content_type = ""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            content_type = value.strip().split(b";")[0].decode("latin-1")
    if b"transfer-encoding: chunked" in head.lower():
        payload = _dechunk(payload)
    return status, content_type, payload


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


async def test_the_router_enumeration_finds_the_client_api() -> None:
    paths = {e.path for e in ENDPOINTS}
    for expected in (
        "/_matrix/client/versions",
        "/.well-known/matrix/client",
        "/_matrix/client/v3/login",
        "/_matrix/client/v3/register",
        "/_matrix/client/v3/devices/{device_id}",
        "/_matrix/client/v3/account/whoami",
    ):
        assert expected in paths
    assert not any(p.startswith(R0) for p in paths)
    # Every near-valid template names a real endpoint (a renamed route would leave one behind).
    names = {str(e) for e in ENDPOINTS}
    assert set(fs.BODY_TEMPLATES) <= names, set(fs.BODY_TEMPLATES) - names
    assert set(fs.QUERY_TEMPLATES) <= names, set(fs.QUERY_TEMPLATES) - names
