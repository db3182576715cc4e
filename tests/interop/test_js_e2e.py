"""matrix-js-sdk with its Rust crypto (matrix-sdk-crypto-wasm, under Node): two users in an
encrypted room, alice's message reaching bob as m.room.encrypted and his client decrypting
it (key upload, /keys/query, /keys/claim, olm to-device messages carrying the megolm key);
one user setting up cross-signing and a key backup as Element does; and a second device
recovering the keys from secret storage and the backup."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import HomeserverUnderTest
from tests.interop.js_helpers import node_json


async def test_js_sdk_rust_crypto_decrypts(hs: HomeserverUnderTest, node_modules: Path) -> None:
    seen = await node_json("e2e_exchange.mjs", hs.base_url)
    assert seen["seen"] == {
        "wire_type": "m.room.encrypted",
        "type": "m.room.message",
        "body": "the biscuits are in the blue tin",
        "failure": None,
    }
    assert seen["bob_device_id"] in seen["alice_knows_bobs_devices"]


async def test_js_sdk_sets_up_cross_signing_and_key_backup(
    hs: HomeserverUnderTest, node_modules: Path
) -> None:
    """As Element on a first login: bootstrapCrossSigning (no UIA: the user has no keys yet),
    resetKeyBackup, and the key of an encrypted message backed up; a second device of the
    user sees the first one signed by the user's self-signing key."""
    seen = await node_json("cross_signing_backup.mjs", hs.base_url)
    assert seen["uia_asked"] is False
    assert seen["cross_signing_ready"] is True
    assert seen["backup_version"] == "1"
    assert seen["room_encrypted"] is True and seen["sent_type"] == "m.room.encrypted"
    assert seen["server_backup"] == {"version": "1", "count": 1}
    assert seen["backed_up_rooms"] == [seen["room_id"]]
    assert seen["second_sees_devices"] == seen["device_ids"]
    assert seen["first_device_cross_signed"] is True


async def test_js_sdk_recovers_keys_on_a_new_device(hs: HomeserverUnderTest, node_modules: Path) -> None:
    """Secrets and backups across devices: the first device keeps its cross-signing and backup
    keys in secret storage (account data) and backs up the key of a message; a second device
    with only the recovery key imports the cross-signing keys, restores the backup from the
    server and decrypts the message."""
    seen = await node_json("secret_storage.mjs", hs.base_url)
    assert seen == {
        "secret_storage_ready": True,
        "stored_secrets": {
            "m.cross_signing.master": 1,
            "m.cross_signing.self_signing": 1,
            "m.megolm_backup.v1": 1,
        },
        "second_cross_signing_ready": True,
        "restored": {"total": 1, "imported": 1},
        "second_reads": "only the backup knows",
        "second_device_cross_signed": True,
    }
