"""Fixtures for the interop tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nio import AsyncClient

from tests.interop.js_helpers import JS_DIR


@pytest.fixture
async def nio_clients() -> AsyncIterator[list[AsyncClient]]:
    """Where tests put the nio clients they make; all are closed at the end."""
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await client.close()


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The pinned matrix-js-sdk, which `make test` installs from package-lock.json."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is required for the matrix-js-sdk tests")
    if not (JS_DIR / "node_modules" / "matrix-js-sdk").exists():
        pytest.fail(f"matrix-js-sdk is not installed: run `make test` (or `npm ci` in {JS_DIR})")
    return JS_DIR / "node_modules"
