"""Real ed25519 keys for the end-to-end encryption tests: a device that signs its device keys
and one-time keys, and a user's cross-signing keys (master, self-signing, user-signing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from homeserver.crypto.signing import sign_json
from homeserver.crypto.unpadded_base64 import encode_base64
from tests.helpers import MatrixClient


@dataclass
class Ed25519:
    """A signer for `sign_json`: key ID "ed25519:<name>" (a device ID, or the public key for
    cross-signing keys)."""

    name: str = ""
    key: nacl.signing.SigningKey = field(default_factory=nacl.signing.SigningKey.generate)

    @property
    def public(self) -> str:
        return encode_base64(bytes(self.key.verify_key))

    @property
    def key_id(self) -> str:
        return f"ed25519:{self.name or self.public}"

    def sign(self, message: bytes) -> bytes:
        return bytes(self.key.sign(message).signature)


class Device:
    """The keys of a client's device, signed as a real client signs them."""

    def __init__(self, client: MatrixClient) -> None:
        assert client.device_id is not None
        self.client = client
        self.user_id = client.user_id
        self.device_id = client.device_id
        self.signer = Ed25519(client.device_id)

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_json(obj, self.user_id, self.signer)

    def device_keys(self, *, unsigned: bool = False, **changes: Any) -> dict[str, Any]:
        """The device keys, with `changes` applied before signing."""
        keys: dict[str, Any] = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                f"curve25519:{self.device_id}": encode_base64(bytes(32)),
                f"ed25519:{self.device_id}": self.signer.public,
            },
        }
        keys |= changes
        return keys if unsigned else self.sign(keys)

    def otk(self, key_id: str, **extra: Any) -> dict[str, Any]:
        return self.sign({"key": f"otk-{key_id}", **extra})

    def otks(self, *key_ids: str) -> dict[str, Any]:
        return {f"signed_curve25519:{k}": self.otk(k) for k in key_ids}

    async def upload(self, *, expect: int = 200, **body: Any) -> Any:
        """POST /keys/upload with the device keys unless `device_keys` is given (None: none)."""
        body.setdefault("device_keys", self.device_keys())
        sent = {k: v for k, v in body.items() if v is not None}
        return await self.client.post("/keys/upload", sent, expect=expect)


class CrossSigning:
    """A user's master, self-signing and user-signing keys."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.master, self.self_signing, self.user_signing = Ed25519(), Ed25519(), Ed25519()

    def key(
        self, which: Ed25519, purpose: str, /, *, signer: Ed25519 | None = None, **changes: Any
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "user_id": self.user_id,
            "usage": [purpose],
            "keys": {which.key_id: which.public},
        } | changes
        return sign_json(obj, self.user_id, signer) if signer else obj

    def master_key(self, **changes: Any) -> dict[str, Any]:
        return self.key(self.master, "master", **changes)

    def self_signing_key(self, **changes: Any) -> dict[str, Any]:
        return self.key(self.self_signing, "self_signing", signer=self.master, **changes)

    def user_signing_key(self, **changes: Any) -> dict[str, Any]:
        return self.key(self.user_signing, "user_signing", signer=self.master, **changes)

    def all_keys(self) -> dict[str, Any]:
        return {
            "master_key": self.master_key(),
            "self_signing_key": self.self_signing_key(),
            "user_signing_key": self.user_signing_key(),
        }
