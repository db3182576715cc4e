"""Opaque pagination tokens: a small JSON array, URL-safe base64 without padding. Decoding
never raises: anything that is not such a token decodes to None, and the caller checks the
array's shape and answers M_INVALID_PARAM."""

from __future__ import annotations

import base64
import binascii

import orjson


def encode_page_token(fields: list[object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")


def decode_page_token(token: str) -> object:
    """The decoded JSON value, or None if `token` is not base64 of JSON."""
    try:
        return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
