"""Unpadded Base64 (spec appendices, "Unpadded Base64"), standard and URL-safe.

Encoding never writes `=` padding. Decoding accepts input with or without padding (as the spec
asks) and either alphabet (`+/` or `-_`: they do not overlap, so there is no ambiguity), and
refuses anything else: other characters, whitespace, impossible lengths.
"""

from __future__ import annotations

import binascii
from typing import Final

__all__ = ["Base64Error", "decode_base64", "encode_base64", "encode_base64_urlsafe"]

_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")


class Base64Error(ValueError):
    """The text is not (unpadded) Base64."""


def encode_base64(data: bytes) -> str:
    """Standard unpadded Base64: `encode_base64(b"foob") == "Zm9vYg"`."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").decode("ascii")


def encode_base64_urlsafe(data: bytes) -> str:
    """URL-safe unpadded Base64 (`-` and `_` for the 62nd and 63rd characters)."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def decode_base64(text: str | bytes | bytearray | memoryview) -> bytes:
    """Decode standard or URL-safe Base64, padded or unpadded. Raises `Base64Error`."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise Base64Error("base64 must be ASCII") from None
    elif isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
    else:
        raise Base64Error(f"base64 must be text, not {type(text).__name__}")
    stripped = raw.rstrip(b"=")
    if len(raw) - len(stripped) > 2:
        raise Base64Error("invalid base64 padding")
    raw = stripped
    if len(raw) % 4 == 1:
        raise Base64Error("invalid base64 length")
    raw = raw.translate(_FROM_URLSAFE) + b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as exc:
        raise Base64Error(f"invalid base64: {exc}") from None
