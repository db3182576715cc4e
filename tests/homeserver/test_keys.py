"""The server signing key in the data directory: generation, reload, rotation, the keys response."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from homeserver.crypto.keys import (
    OLD_KEYS_FILE,
    SIGNING_KEY_FILE,
    KeyFileError,
    SigningKey,
    load_old_verify_keys,
    load_or_generate_signing_key,
    load_server_keys,
    load_signing_key,
    rotate_signing_key,
    server_keys_response,
    verify_keys_json,
)
from homeserver.crypto.signing import decode_verify_key, verify_signed_json
from homeserver.crypto.unpadded_base64 import decode_base64, encode_base64


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_once_then_reloaded(tmp_path: Path) -> None:
    first = load_or_generate_signing_key(tmp_path)
    path = tmp_path / SIGNING_KEY_FILE
    assert path.is_file()
    assert mode(path) == 0o600
    second = load_or_generate_signing_key(tmp_path)
    assert second.key_id == first.key_id
    assert second.seed == first.seed and second.public_key == first.public_key
    assert [p.name for p in tmp_path.iterdir()] == [SIGNING_KEY_FILE]  # no temporary files left


def test_key_file_format_is_synapses(tmp_path: Path) -> None:
    key = load_or_generate_signing_key(tmp_path)
    algorithm, version, seed = (tmp_path / SIGNING_KEY_FILE).read_text().split()
    assert algorithm == "ed25519"
    assert key.key_id == f"ed25519:{version}"
    assert version.isalnum() and len(version) >= 6
    assert "=" not in seed and decode_base64(seed) == key.seed


def test_reads_a_synapse_key_file(tmp_path: Path) -> None:
    seed = bytes(range(32))
    (tmp_path / SIGNING_KEY_FILE).write_text(f"ed25519 a_Abcd {encode_base64(seed)}\n")
    key = load_signing_key(tmp_path / SIGNING_KEY_FILE)
    assert key.key_id == "ed25519:a_Abcd"
    assert key.seed == seed
    assert key.public_key == bytes(SigningKey(version="x", seed=seed).verify_key)


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    load_or_generate_signing_key(tmp_path)
    path = tmp_path / SIGNING_KEY_FILE
    os.chmod(path, 0o644)
    load_or_generate_signing_key(tmp_path)
    assert mode(path) == 0o600


def test_generated_with_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_generate_signing_key(tmp_path / "fresh")
    finally:
        os.umask(old)
    assert mode(tmp_path / "fresh" / SIGNING_KEY_FILE) == 0o600


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ed25519 v1\n",
        "rsa v1 AAAA\n",
        "ed25519 v1 not-base64!\n",
        "ed25519 v1 AAAA\n",
        "ed25519 bad-version AAAA\n",
    ],
)
def test_malformed_key_file(tmp_path: Path, text: str) -> None:
    (tmp_path / SIGNING_KEY_FILE).write_text(text)
    with pytest.raises(KeyFileError, match=SIGNING_KEY_FILE):
        load_or_generate_signing_key(tmp_path)


def test_two_keys_in_the_file_refused(tmp_path: Path) -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    (tmp_path / SIGNING_KEY_FILE).write_text(f"{a.to_line()}\n{b.to_line()}\n")
    with pytest.raises(KeyFileError, match="exactly one key"):
        load_signing_key(tmp_path / SIGNING_KEY_FILE)


def test_concurrent_first_starts_agree(tmp_path: Path) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(load_or_generate_signing_key(tmp_path).key_id)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1


def test_rotation_keeps_the_old_key_with_expired_ts(tmp_path: Path) -> None:
    original = load_or_generate_signing_key(tmp_path)
    rotated = rotate_signing_key(tmp_path, now_ms=1_700_000_000_000)
    assert rotated.signing_key.key_id != original.key_id
    assert set(rotated.old_verify_keys) == {original.key_id}
    old = rotated.old_verify_keys[original.key_id]
    assert old.expired_ts == 1_700_000_000_000
    assert old.public_key == original.public_key
    assert mode(tmp_path / SIGNING_KEY_FILE) == 0o600
    assert mode(tmp_path / OLD_KEYS_FILE) == 0o600

    reloaded = load_server_keys(tmp_path)
    assert reloaded.signing_key.key_id == rotated.signing_key.key_id
    assert reloaded.old_verify_keys == rotated.old_verify_keys

    again = rotate_signing_key(tmp_path, now_ms=1_800_000_000_000)
    assert set(again.old_verify_keys) == {original.key_id, rotated.signing_key.key_id}
    assert again.old_verify_keys[original.key_id].expired_ts == 1_700_000_000_000
    assert again.old_verify_keys[rotated.signing_key.key_id].expired_ts == 1_800_000_000_000
    assert load_old_verify_keys(tmp_path) == dict(again.old_verify_keys)


def test_rotation_on_an_empty_directory(tmp_path: Path) -> None:
    keys = rotate_signing_key(tmp_path, now_ms=5)
    assert len(keys.old_verify_keys) == 1  # the key generated on the way is retired at once
    assert load_server_keys(tmp_path).signing_key == keys.signing_key


def test_interrupted_rotation_keeps_the_current_key_current(tmp_path: Path) -> None:
    key = load_or_generate_signing_key(tmp_path)
    # As if a rotation wrote the old keys file, then died before replacing signing.key.
    (tmp_path / OLD_KEYS_FILE).write_text(
        f'{{"{key.key_id}": {{"key": "{key.public_key_base64}", "expired_ts": 1}}}}'
    )
    keys = load_server_keys(tmp_path)
    assert keys.signing_key.key_id == key.key_id
    assert keys.old_verify_keys == {}


def test_malformed_old_keys_file(tmp_path: Path) -> None:
    for text in [
        "[]",
        "{",
        '{"ed25519:a": {"key": "AAAA", "expired_ts": 1}}',
        '{"rsa:a": {}}',
        '{"ed25519:a": 5}',
    ]:
        (tmp_path / OLD_KEYS_FILE).write_text(text)
        with pytest.raises(KeyFileError, match=OLD_KEYS_FILE):
            load_old_verify_keys(tmp_path)


def test_server_keys_response(tmp_path: Path) -> None:
    original = load_or_generate_signing_key(tmp_path)
    keys = rotate_signing_key(tmp_path, now_ms=1234)
    body = server_keys_response("example.org", keys, valid_until_ts=99_999)
    current = keys.signing_key
    assert body["server_name"] == "example.org"
    assert body["valid_until_ts"] == 99_999
    assert body["verify_keys"] == {current.key_id: {"key": current.public_key_base64}}
    assert body["old_verify_keys"] == {
        original.key_id: {"key": original.public_key_base64, "expired_ts": 1234}
    }
    assert set(body["signatures"]) == {"example.org"}
    assert set(body["signatures"]["example.org"]) == {current.key_id}
    verify_key = decode_verify_key(body["verify_keys"][current.key_id]["key"])
    verify_signed_json(body, "example.org", current.key_id, verify_key)
    assert verify_keys_json(keys) == {k: body[k] for k in ("verify_keys", "old_verify_keys")}


def test_signing_key_repr_hides_the_seed() -> None:
    key = SigningKey(version="v", seed=b"\x07" * 32)
    assert encode_base64(key.seed) not in repr(key)
    assert "seed" not in repr(key)
    assert len(key.sign(b"message")) == 64
