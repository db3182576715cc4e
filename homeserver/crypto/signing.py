"""Signing JSON and checking signatures (spec appendices, "Signing JSON").

An object is signed over the canonical JSON of the object without its `signatures` and
`unsigned` members; the signature (unpadded Base64) goes under
`signatures[server_name][key_id]`, next to the signatures other servers already made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

import nacl.exceptions
import nacl.signing
from nacl.bindings import crypto_sign_open

from homeserver.canonicaljson import CanonicalJsonError, encode_canonical, encode_canonical_lenient
from homeserver.crypto.unpadded_base64 import Base64Error, decode_base64, encode_base64

__all__ = [
    "ED25519",
    "SignatureError",
    "Signer",
    "add_signature",
    "decode_verify_key",
    "sign_json",
    "signing_bytes",
    "verify_signature",
    "verify_signed_json",
]

ED25519: Final = "ed25519"
_ED25519_PREFIX: Final = "ed25519:"
_UNSIGNED_KEYS: Final = frozenset({"signatures", "unsigned"})


class SignatureError(ValueError):
    """A signature is missing, malformed, made with an unknown algorithm, or does not match."""


class Signer(Protocol):
    """What signing needs from a key: its ID (`ed25519:<version>`) and a raw signature.
    `homeserver.crypto.keys.SigningKey` is one."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


def signing_bytes(obj: Mapping[str, Any], *, strict: bool = True) -> bytes:
    """The bytes a signature of `obj` covers: its canonical JSON without `signatures` and
    `unsigned`. `strict=False` takes the out-of-range values of room versions 1-5."""
    stripped = {key: value for key, value in obj.items() if key not in _UNSIGNED_KEYS}
    return encode_canonical(stripped) if strict else encode_canonical_lenient(stripped)


def add_signature(obj: Mapping[str, Any], server_name: str, key_id: str, signature: str) -> dict[str, Any]:
    """A copy of `obj` with `signature` (unpadded Base64) added under
    `signatures[server_name][key_id]`; every other signature is kept. Only the `signatures`
    levels that change are copied."""
    signatures = obj.get("signatures")
    merged: dict[str, Any] = dict(signatures) if isinstance(signatures, Mapping) else {}
    mine = merged.get(server_name)
    merged[server_name] = {**mine, key_id: signature} if isinstance(mine, Mapping) else {key_id: signature}
    return {**obj, "signatures": merged}


def sign_json(
    obj: Mapping[str, Any], server_name: str, key: Signer, *, strict: bool = True
) -> dict[str, Any]:
    """A signed copy of `obj` (the input is not modified); `unsigned` and the signatures of
    other servers or keys are kept as they are. Raises `CanonicalJsonError` if `obj` is not
    canonical JSON."""
    signature = key.sign(signing_bytes(obj, strict=strict))
    return add_signature(obj, server_name, key.key_id, encode_base64(signature))


def decode_verify_key(key_base64: str) -> nacl.signing.VerifyKey:
    """An ed25519 verify key from its unpadded Base64 form (as in `verify_keys[...]["key"]`)."""
    try:
        raw = decode_base64(key_base64)
    except Base64Error as exc:
        raise SignatureError(f"verify key is not base64: {exc}") from None
    if len(raw) != 32:
        raise SignatureError(f"an ed25519 verify key has 32 bytes, not {len(raw)}")
    return nacl.signing.VerifyKey(raw)


def _public_bytes(verify_key: nacl.signing.VerifyKey | bytes) -> bytes:
    raw = bytes(verify_key)
    if len(raw) != 32:
        raise SignatureError(f"an ed25519 verify key has 32 bytes, not {len(raw)}")
    return raw


def verify_signature(message: bytes, signature: bytes, verify_key: nacl.signing.VerifyKey | bytes) -> None:
    """Check a raw ed25519 signature of `message`; raise `SignatureError` if it does not match."""
    if len(signature) != 64:
        raise SignatureError(f"an ed25519 signature has 64 bytes, not {len(signature)}")
    try:
        crypto_sign_open(signature + message, _public_bytes(verify_key))
    except nacl.exceptions.BadSignatureError:
        raise SignatureError("signature does not match") from None


def verify_signed_json(
    obj: Mapping[str, Any],
    server_name: str,
    key_id: str,
    verify_key: nacl.signing.VerifyKey | bytes,
) -> None:
    """Check that `obj` carries a valid signature from `server_name` made with `key_id`
    ("Checking for a Signature"). Returns nothing; raises `SignatureError` with the reason.

    The object is encoded leniently, so room version 1-5 events with out-of-range numbers still
    verify; for any object in the strict model the bytes are the same."""
    if not key_id.startswith(_ED25519_PREFIX):
        raise SignatureError(f"unsupported signing algorithm in key ID {key_id!r}")
    signatures = obj.get("signatures")
    mine = signatures.get(server_name) if isinstance(signatures, Mapping) else None
    if not isinstance(mine, Mapping) or key_id not in mine:
        raise SignatureError(f"no signature from {server_name} with key {key_id}")
    encoded = mine[key_id]
    if not isinstance(encoded, str):
        raise SignatureError(f"signature from {server_name} with key {key_id} is not a string")
    try:
        signature = decode_base64(encoded)
    except Base64Error:
        raise SignatureError(f"signature from {server_name} with key {key_id} is not base64") from None
    try:
        message = signing_bytes(obj, strict=False)
    except CanonicalJsonError as exc:
        raise SignatureError(f"cannot encode the signed object: {exc}") from None
    try:
        verify_signature(message, signature, verify_key)
    except SignatureError:
        raise SignatureError(f"invalid signature from {server_name} with key {key_id}") from None
