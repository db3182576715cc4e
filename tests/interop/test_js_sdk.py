"""matrix-js-sdk (Node) drives the account flow against a real server."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import HomeserverUnderTest
from tests.interop.js_helpers import node_json


async def test_js_sdk_register_login_devices_logout(hs: HomeserverUnderTest, node_modules: Path) -> None:
    seen = await node_json("account_flow.mjs", hs.base_url, "jsuser", "js-sdk password")
    user_id = f"@jsuser:{hs.config.server_name}"
    assert seen["registered_user_id"] == user_id
    assert seen["login_user_id"] == user_id
    assert seen["whoami"] == user_id
    ids = {d["device_id"]: d["display_name"] for d in seen["devices"]}
    assert ids[seen["login_device_id"]] == "js-sdk test"
    assert len(ids) == 2  # the registration's device and the login's
    assert seen["after_logout"] == "M_UNKNOWN_TOKEN"
