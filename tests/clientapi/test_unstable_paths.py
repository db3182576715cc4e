"""Cross-signing uploads also answer under /_matrix/client/unstable/, where Element (through
matrix-js-sdk's uploadDeviceSigningKeys) asks which UIA flows a new cross-signing key needs."""

from __future__ import annotations

from tests.clientapi.e2e_helpers import CrossSigning
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest

UNSTABLE = "/_matrix/client/unstable"


async def test_cross_signing_upload_under_unstable(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert alice.user_id is not None
    keys = CrossSigning(alice.user_id)
    assert await alice.post(f"{UNSTABLE}/keys/device_signing/upload", keys.all_keys()) == {}
    mine = await alice.post("/keys/query", {"device_keys": {alice.user_id: []}})
    assert mine["master_keys"] == {alice.user_id: keys.master_key()}

    # Element's probe once keys exist: new keys answer with the UIA flows.
    challenge = await alice.post(
        f"{UNSTABLE}/keys/device_signing/upload", CrossSigning(alice.user_id).all_keys(), expect=401
    )
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    assert (await alice.post("/keys/query", {"device_keys": {alice.user_id: []}}))["master_keys"] == {
        alice.user_id: keys.master_key()
    }


async def test_signatures_upload_under_unstable(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.post(f"{UNSTABLE}/keys/signatures/upload", {}) == {"failures": {}}


async def test_unstable_paths_need_a_token(hs: HomeserverUnderTest) -> None:
    for path in ("keys/device_signing/upload", "keys/signatures/upload"):
        assert_error(await hs.client().post(f"{UNSTABLE}/{path}", {}, expect=401), "M_MISSING_TOKEN")
