"""Fixtures for the client API tests: servers with a changed config, and small helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from homeserver.config import Config
from tests.helpers import HomeserverUnderTest

MakeServer = Callable[..., Awaitable[HomeserverUnderTest]]


@pytest.fixture
async def make_hs(config: Config) -> AsyncIterator[MakeServer]:
    """Start a server whose config is the test config with some options changed:
    `await make_hs(registration=Registration(enabled=False))`."""
    servers: list[HomeserverUnderTest] = []

    async def make(**changes: Any) -> HomeserverUnderTest:
        server = HomeserverUnderTest(dataclasses.replace(config, **changes))
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        await server.stop()
