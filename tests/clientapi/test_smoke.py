from __future__ import annotations

from tests.helpers import HomeserverUnderTest


async def test_register_then_whoami(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    me = await alice.get("/account/whoami")
    assert me["user_id"] == f"@alice:{hs.config.server_name}"
    assert me["device_id"] == alice.device_id
