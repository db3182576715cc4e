"""matrix-nio clients for the interop tests: registered against the server under test, closed
by the `nio_clients` fixture (tests/interop/conftest.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
from nio import AsyncClient, AsyncClientConfig, RegisterResponse

from tests.helpers import DEFAULT_PASSWORD, HomeserverUnderTest


async def registered(
    hs: HomeserverUnderTest, made: list[AsyncClient], name: str, **config: Any
) -> AsyncClient:
    """A new user `name` registered through nio (device name "<name>'s nio"); `config` adds to
    the client config (e.g. encryption_enabled=True)."""
    # max_limit_exceeded=0 and max_timeouts=0: fail at once instead of nio's retry loops.
    client_config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, store_sync_tokens=False, **config)
    client = AsyncClient(hs.base_url, name, config=client_config)
    client.client_session = aiohttp.ClientSession()
    made.append(client)
    response = await client.register(name, DEFAULT_PASSWORD, device_name=f"{name}'s nio")
    assert isinstance(response, RegisterResponse), response
    return client
