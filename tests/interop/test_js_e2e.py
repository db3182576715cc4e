"""matrix-js-sdk with its Rust crypto (matrix-sdk-crypto-wasm, under Node) as two users in
an encrypted room: alice's message reaches bob as m.room.encrypted and his client decrypts
it. The client does the whole dance against this server: key upload, /keys/query,
/keys/claim, olm to-device messages carrying the megolm key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.helpers import HomeserverUnderTest
from tests.interop.test_js_sdk import JS_DIR, node_modules

__all__ = ["node_modules"]  # the fixture, shared with test_js_sdk


async def test_js_sdk_rust_crypto_decrypts(hs: HomeserverUnderTest, node_modules: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "e2e_exchange.mjs"),
        hs.base_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-3000:]
    seen = json.loads(stdout.decode().strip().splitlines()[-1])
    assert seen["seen"] == {
        "wire_type": "m.room.encrypted",
        "type": "m.room.message",
        "body": "the biscuits are in the blue tin",
        "failure": None,
    }
    assert seen["bob_device_id"] in seen["alice_knows_bobs_devices"]
