"""matrix-js-sdk (Node) drives the account flow against a real server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import HomeserverUnderTest

JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The pinned matrix-js-sdk, which `make test` installs from package-lock.json."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is required for the matrix-js-sdk tests")
    if not (JS_DIR / "node_modules" / "matrix-js-sdk").exists():
        pytest.fail(f"matrix-js-sdk is not installed: run `make test` (or `npm ci` in {JS_DIR})")
    return JS_DIR / "node_modules"


async def test_js_sdk_register_login_devices_logout(hs: HomeserverUnderTest, node_modules: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "account_flow.mjs"),
        hs.base_url,
        "jsuser",
        "js-sdk password",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    seen = json.loads(stdout.decode().strip().splitlines()[-1])
    user_id = f"@jsuser:{hs.config.server_name}"
    assert seen["registered_user_id"] == user_id
    assert seen["login_user_id"] == user_id
    assert seen["whoami"] == user_id
    ids = {d["device_id"]: d["display_name"] for d in seen["devices"]}
    assert ids[seen["login_device_id"]] == "js-sdk test"
    assert len(ids) == 2  # the registration's device and the login's
    assert seen["after_logout"] == "M_UNKNOWN_TOKEN"
