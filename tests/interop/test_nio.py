"""matrix-nio, a real third-party client, against a real server: register, log in, whoami,
devices, log out, and the logged-out token stops working.

Every request nio puts on the wire is recorded through an aiohttp trace hook, so the test
also pins down what nio sends: the token in an `Authorization: Bearer` header, never in
the query string (the server refuses query-string tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DevicesResponse,
    LoginResponse,
    LogoutResponse,
    RegisterResponse,
    WhoamiError,
    WhoamiResponse,
)

from tests.helpers import DEFAULT_PASSWORD, HomeserverUnderTest


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    query: dict[str, str]
    authorization: str | None


class RecordingClient:
    """An nio AsyncClient whose HTTP session records every request it sends."""

    def __init__(self, base_url: str, user: str = "") -> None:
        self.sent: list[SentRequest] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._record)
        # max_limit_exceeded=0 and max_timeouts=0: fail at once instead of nio's retry loops.
        config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, store_sync_tokens=False)
        self.nio = AsyncClient(base_url, user, config=config)
        # nio creates its session lazily unless one is set; ours carries the trace hook.
        self.nio.client_session = aiohttp.ClientSession(trace_configs=[trace])

    async def _record(
        self, _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        self.sent.append(
            SentRequest(
                params.method,
                str(params.url),
                dict(params.url.query),
                params.headers.get("Authorization"),
            )
        )

    def last(self, path_suffix: str) -> SentRequest:
        matching = [r for r in self.sent if r.url.split("?")[0].endswith(path_suffix)]
        assert matching, f"nio sent no request to ...{path_suffix}: {[r.url for r in self.sent]}"
        return matching[-1]

    async def close(self) -> None:
        await self.nio.close()


@pytest.fixture
async def clients(hs: HomeserverUnderTest) -> AsyncIterator[list[RecordingClient]]:
    made: list[RecordingClient] = []
    yield made
    for client in made:
        await client.close()


async def test_nio_register_login_whoami_devices_logout(
    hs: HomeserverUnderTest, clients: list[RecordingClient]
) -> None:
    server = hs.config.server_name
    user_id = f"@alice:{server}"

    # nio's register sends m.login.dummy in the first request, without asking for flows.
    first = RecordingClient(hs.base_url)
    clients.append(first)
    registered = await first.nio.register("alice", DEFAULT_PASSWORD, device_name="nio laptop")
    assert isinstance(registered, RegisterResponse), registered
    assert registered.user_id == user_id
    assert first.nio.access_token == registered.access_token
    me = await first.nio.whoami()
    assert isinstance(me, WhoamiResponse), me
    assert (me.user_id, me.device_id) == (user_id, registered.device_id)

    second = RecordingClient(hs.base_url, user="alice")
    clients.append(second)
    logged_in = await second.nio.login(DEFAULT_PASSWORD, device_name="nio phone")
    assert isinstance(logged_in, LoginResponse), logged_in
    assert logged_in.user_id == user_id
    assert logged_in.device_id != registered.device_id
    assert logged_in.access_token != registered.access_token

    me = await second.nio.whoami()
    assert isinstance(me, WhoamiResponse), me
    assert (me.user_id, me.device_id) == (user_id, logged_in.device_id)

    listed = await second.nio.devices()
    assert isinstance(listed, DevicesResponse), listed
    names = {d.id: d.display_name for d in listed.devices}
    assert names == {registered.device_id: "nio laptop", logged_in.device_id: "nio phone"}

    old_token = second.nio.access_token
    logged_out = await second.nio.logout()
    assert isinstance(logged_out, LogoutResponse), logged_out
    assert second.nio.access_token == ""

    # The logged-out token no longer works, through nio and over plain HTTP.
    second.nio.access_token = old_token
    refused = await second.nio.whoami()
    assert isinstance(refused, WhoamiError), refused
    assert refused.status_code == "M_UNKNOWN_TOKEN"
    assert refused.transport_response is not None and refused.transport_response.status == 401
    err = await hs.client(old_token).get("/account/whoami", expect=401)
    assert err["errcode"] == "M_UNKNOWN_TOKEN"

    # The other device is untouched and sees that the phone is gone.
    still = await first.nio.devices()
    assert isinstance(still, DevicesResponse), still
    assert [d.id for d in still.devices] == [registered.device_id]

    # What nio put on the wire for the authenticated calls: a Bearer header, no query token.
    for client, token in ((second, old_token), (first, registered.access_token)):
        for path in ("/account/whoami", "/devices"):
            sent = client.last(path)
            assert sent.authorization == f"Bearer {token}", sent
            assert "access_token" not in sent.query, sent
    sent = second.last("/logout")
    assert sent.method == "POST" and sent.authorization == f"Bearer {old_token}"
    assert "access_token" not in sent.query
    assert all("access_token" not in r.query for c in clients for r in c.sent)
    # ... which matters: the same token in the query string is refused.
    err = await hs.client().get(
        "/account/whoami", params={"access_token": registered.access_token}, expect=401
    )
    assert err["errcode"] == "M_MISSING_TOKEN"


async def test_nio_wrong_password_is_refused(hs: HomeserverUnderTest, clients: list[RecordingClient]) -> None:
    await hs.register("bob")
    client = RecordingClient(hs.base_url, user="@bob:" + hs.config.server_name)
    clients.append(client)
    refused = await client.nio.login("not the password")
    assert not isinstance(refused, LoginResponse)
    assert refused.status_code == "M_FORBIDDEN"
    assert not client.nio.access_token
