"""Fixtures for the interop tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nio import AsyncClient


@pytest.fixture
async def nio_clients() -> AsyncIterator[list[AsyncClient]]:
    """Where tests put the nio clients they make; all are closed at the end."""
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await client.close()
