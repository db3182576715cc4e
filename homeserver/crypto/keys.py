"""The server's ed25519 signing key, kept in the data directory.

- `DATA_DIR/signing.key` (mode 0600): one line in Synapse's format,
  `ed25519 <version> <unpadded base64 seed>`; generated on the first start, loaded afterwards.
  Key ID: `ed25519:<version>`, the version being random letters and digits.
- `DATA_DIR/old_signing_keys.json` (mode 0600): the keys rotated out, exactly in the shape of
  the server-keys response's `old_verify_keys`: `{"ed25519:v": {"key": ..., "expired_ts": ...}}`.

Files are written to a temporary name, synced, then moved into place, so a crash never leaves a
half-written key; two processes starting on an empty data directory end up with the same key.
"""

from __future__ import annotations

import os
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import nacl.signing
import orjson
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from homeserver.crypto.signing import ED25519, sign_json
from homeserver.crypto.unpadded_base64 import Base64Error, decode_base64, encode_base64

__all__ = [
    "OLD_KEYS_FILE",
    "SIGNING_KEY_FILE",
    "KeyFileError",
    "OldVerifyKey",
    "ServerKeys",
    "SigningKey",
    "load_old_verify_keys",
    "load_or_generate_signing_key",
    "load_server_keys",
    "load_signing_key",
    "rotate_signing_key",
    "server_keys_response",
    "verify_keys_json",
]

SIGNING_KEY_FILE: Final = "signing.key"
OLD_KEYS_FILE: Final = "old_signing_keys.json"
_VERSION_ALPHABET: Final = string.ascii_letters + string.digits
_VERSION_LENGTH: Final = 8
_VERSION_CHARS: Final = frozenset(_VERSION_ALPHABET + "_")


class KeyFileError(ValueError):
    """A key file is malformed."""


def _check_version(version: str) -> None:
    if not version or not set(version) <= _VERSION_CHARS:
        raise KeyFileError(f"key version must match [a-zA-Z0-9_]+, got {version!r}")


def _random_version() -> str:
    return "".join(secrets.choice(_VERSION_ALPHABET) for _ in range(_VERSION_LENGTH))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An ed25519 signing key with its version. `sign` is fast: the libsodium secret key is
    derived once, not per signature."""

    version: str
    seed: bytes = field(repr=False)
    public_key: bytes = field(init=False)
    _secret: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_version(self.version)
        if len(self.seed) != 32:
            raise KeyFileError(f"an ed25519 seed has 32 bytes, not {len(self.seed)}")
        public, secret = crypto_sign_seed_keypair(self.seed)
        object.__setattr__(self, "public_key", public)
        object.__setattr__(self, "_secret", secret)

    @classmethod
    def generate(cls, version: str | None = None) -> SigningKey:
        return cls(version=version or _random_version(), seed=secrets.token_bytes(32))

    @property
    def key_id(self) -> str:
        return f"{ED25519}:{self.version}"

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        return nacl.signing.VerifyKey(self.public_key)

    @property
    def public_key_base64(self) -> str:
        return encode_base64(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte ed25519 signature of `message`."""
        return crypto_sign(message, self._secret)[:64]

    def to_line(self) -> str:
        """The key in Synapse's key file format."""
        return f"{ED25519} {self.version} {encode_base64(self.seed)}"

    @classmethod
    def from_line(cls, line: str) -> SigningKey:
        parts = line.split()
        if len(parts) != 3 or parts[0] != ED25519:
            raise KeyFileError("expected 'ed25519 <version> <base64 seed>'")
        try:
            seed = decode_base64(parts[2])
        except Base64Error as exc:
            raise KeyFileError(f"key seed is not base64: {exc}") from None
        return cls(version=parts[1], seed=seed)


@dataclass(frozen=True, slots=True)
class OldVerifyKey:
    """A public key the server used to sign with, and when it stopped (ms since the epoch)."""

    key_id: str
    public_key: bytes
    expired_ts: int

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        return nacl.signing.VerifyKey(self.public_key)

    def to_json(self) -> dict[str, Any]:
        return {"key": encode_base64(self.public_key), "expired_ts": self.expired_ts}


@dataclass(frozen=True, slots=True)
class ServerKeys:
    """The current signing key and the keys rotated out (by key ID)."""

    signing_key: SigningKey
    old_verify_keys: Mapping[str, OldVerifyKey]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> bool:
    """Write `data` to `path` with mode 0600, atomically. With `overwrite=False` the file is
    only created if absent; returns False when another writer got there first."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        _fsync_dir(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _tighten_mode(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


def load_signing_key(path: Path) -> SigningKey:
    """Read a key file holding one key (`ed25519 <version> <seed>`). Raises `KeyFileError`,
    or `FileNotFoundError` if there is no file."""
    lines = [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    if len(lines) != 1:
        raise KeyFileError(f"{path}: expected exactly one key, found {len(lines)}")
    try:
        key = SigningKey.from_line(lines[0])
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    _tighten_mode(path)
    return key


def load_or_generate_signing_key(data_dir: Path) -> SigningKey:
    """The key in `data_dir/signing.key`, generated (and written with mode 0600) if absent."""
    path = data_dir / SIGNING_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_private(path, (SigningKey.generate().to_line() + "\n").encode(), overwrite=False)
    return load_signing_key(path)


def load_old_verify_keys(data_dir: Path) -> dict[str, OldVerifyKey]:
    """The keys rotated out, from `data_dir/old_signing_keys.json` (empty if no file)."""
    path = data_dir / OLD_KEYS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        entries = orjson.loads(raw)
        if not isinstance(entries, dict):
            raise KeyFileError("expected a JSON object")
        old = {}
        for key_id, entry in entries.items():
            if not key_id.startswith(f"{ED25519}:"):
                raise KeyFileError(f"unsupported key ID {key_id!r}")
            _check_version(key_id.partition(":")[2])
            expired_ts = entry["expired_ts"]
            public = decode_base64(entry["key"])
            if type(expired_ts) is not int or len(public) != 32:
                raise KeyFileError(f"bad entry for {key_id}")
            old[key_id] = OldVerifyKey(key_id, public, expired_ts)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, Base64Error) as exc:
        raise KeyFileError(f"{path}: {exc!r}") from None
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    return old


def load_server_keys(data_dir: Path) -> ServerKeys:
    """The current key (generated on the first start) and the old verify keys."""
    key = load_or_generate_signing_key(data_dir)
    old = load_old_verify_keys(data_dir)
    old.pop(key.key_id, None)  # a rotation interrupted between its two writes
    return ServerKeys(signing_key=key, old_verify_keys=old)


def rotate_signing_key(data_dir: Path, *, now_ms: int | None = None) -> ServerKeys:
    """Replace the signing key by a new one; the previous key joins the old verify keys with
    `expired_ts = now_ms` (default: now). Run it from one process (an admin command); servers
    pick the new key up on their next start."""
    current = load_server_keys(data_dir)
    expired_ts = int(time.time() * 1000) if now_ms is None else now_ms
    retired = current.signing_key
    old = dict(current.old_verify_keys)
    old[retired.key_id] = OldVerifyKey(retired.key_id, retired.public_key, expired_ts)
    new = SigningKey.generate()
    while new.key_id in old:  # pragma: no cover - 62**8 versions
        new = SigningKey.generate()
    body = {key_id: entry.to_json() for key_id, entry in old.items()}
    # Old keys first: a crash before the second write leaves the current key usable.
    _write_private(data_dir / OLD_KEYS_FILE, orjson.dumps(body, option=orjson.OPT_INDENT_2), overwrite=True)
    _write_private(data_dir / SIGNING_KEY_FILE, (new.to_line() + "\n").encode(), overwrite=True)
    return ServerKeys(signing_key=new, old_verify_keys=old)


def verify_keys_json(keys: ServerKeys) -> dict[str, Any]:
    """`verify_keys` and `old_verify_keys` as the server-keys response carries them."""
    key = keys.signing_key
    return {
        "verify_keys": {key.key_id: {"key": key.public_key_base64}},
        "old_verify_keys": {key_id: entry.to_json() for key_id, entry in keys.old_verify_keys.items()},
    }


def server_keys_response(server_name: str, keys: ServerKeys, *, valid_until_ts: int) -> dict[str, Any]:
    """The signed body of `GET /_matrix/key/v2/server`."""
    body = {"server_name": server_name, "valid_until_ts": valid_until_ts, **verify_keys_json(keys)}
    return sign_json(body, server_name, keys.signing_key)
