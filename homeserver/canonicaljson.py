"""Canonical JSON (spec appendices, "Canonical JSON").

The canonical form of a value is its shortest UTF-8 JSON encoding with object keys sorted by
code point: no insignificant whitespace, non-ASCII characters written as UTF-8 rather than
escaped, only the escapes the grammar allows (`\\b \\t \\n \\f \\r \\" \\\\` and `\\u00XX` in
lower-case hex for the other ASCII control characters), integers only, in
[-(2**53)+1, (2**53)-1], no floats.

orjson with `OPT_SORT_KEYS` produces exactly these bytes for values of that model (its string
escaping is the grammar's, its key order is UTF-8 byte order, which is code point order), so it
does the encoding; a fast walk over the value refuses what orjson would accept but the model
does not (floats, NaN, big integers, non-JSON types).

Two encoders:
- `encode_canonical`: the strict model. Anything we create and sign goes through it.
- `encode_canonical_lenient`: room versions 1-5 may carry events with floats or integers out
  of range (the spec asks servers to cope with them); they are encoded the way the reference
  server does (Python's `json` module), so their hashes and signatures still check out.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import orjson

__all__ = [
    "CANONICALJSON_MAX_INT",
    "CANONICALJSON_MIN_INT",
    "CanonicalJsonError",
    "JsonDict",
    "JsonValue",
    "canonical_size",
    "check_value_limits",
    "decode_json",
    "encode_canonical",
    "encode_canonical_lenient",
    "encode_checked",
    "is_strict_value",
]

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]
# Events and other JSON objects as they travel through the core: a plain dict, values unknown.
JsonDict = dict[str, Any]

CANONICALJSON_MAX_INT: Final = 2**53 - 1
CANONICALJSON_MIN_INT: Final = -CANONICALJSON_MAX_INT

_SORT: Final = orjson.OPT_SORT_KEYS
_SORT_STRICT_INT: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

# A number token with a fraction or an exponent could be in the text (false positives are
# harmless: they only cost a walk over the decoded value).
_MAYBE_FLOAT: Final = re.compile(rb"[0-9][.eE]")


class CanonicalJsonError(ValueError):
    """The value cannot be encoded as canonical JSON (or the text is not valid JSON)."""


def _scan(value: object) -> bool:
    """True if `value` is within the strict model; False if it holds a finite float or an
    integer out of range (which only the lenient encoder takes). Raises `CanonicalJsonError`
    for NaN, infinities and types that are not JSON. Keys are left to the encoders."""
    try:
        return _scan_value(value)
    except RecursionError:
        raise CanonicalJsonError("value is nested too deeply") from None


def _scan_value(value: Any) -> bool:
    # The hot path of every hash and signature: exact type checks, strings skipped inline.
    kind = type(value)
    if kind is dict:
        children = value.values()
    elif kind is list:
        children = value
    elif kind is int:
        return CANONICALJSON_MIN_INT <= value <= CANONICALJSON_MAX_INT  # type: ignore[no-any-return]
    elif kind is str or value is None or kind is bool:
        return True
    else:
        return _scan_unusual(value)
    for child in children:
        kind = type(child)
        if kind is str:
            continue
        if kind is int:
            if CANONICALJSON_MIN_INT <= child <= CANONICALJSON_MAX_INT:
                continue
            return False
        if not _scan_value(child):
            return False
    return True


def _scan_unusual(value: object) -> bool:
    """The rare cases of `_scan_value`: floats, tuples and subclasses of the JSON types."""
    if isinstance(value, float):
        if math.isfinite(value):
            return False
        raise CanonicalJsonError(f"{value!r} is not a JSON number")
    if isinstance(value, bool) or isinstance(value, str):
        return True
    if isinstance(value, int):
        return CANONICALJSON_MIN_INT <= int(value) <= CANONICALJSON_MAX_INT
    if isinstance(value, (list, tuple)):
        return all(_scan_value(child) for child in value)
    if isinstance(value, dict):
        return all(_scan_value(child) for child in value.values())
    raise CanonicalJsonError(f"{type(value).__name__} is not a JSON type")


def _check_keys(value: object) -> None:
    """Refuse non-string object keys (the lenient path's stdlib encoder would coerce them)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(f"object keys must be strings, not {type(key).__name__}")
            _check_keys(child)
    elif isinstance(value, (list, tuple)):
        for child in value:
            _check_keys(child)


def _describe(value: object, path: str) -> str | None:
    """Where and why `value` leaves the strict model (slow path, only for error messages)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        if CANONICALJSON_MIN_INT <= value <= CANONICALJSON_MAX_INT:
            return None
        return f"integer out of range at {path or 'top level'}: {value}"
    if isinstance(value, float):
        return f"float not allowed at {path or 'top level'}: {value!r}"
    if isinstance(value, dict):
        for key, child in value.items():
            found = _describe(child, f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, child in enumerate(value):
            found = _describe(child, f"{path}[{index}]")
            if found:
                return found
    return None


def is_strict_value(value: object) -> bool:
    """True if `value` is in canonical JSON's model (no floats, integers within range), False
    if it is JSON only the lenient encoder takes. May raise `CanonicalJsonError` for what is not
    JSON at all (NaN, other types); the encoders catch the rest (non-string keys, surrogates)."""
    return _scan(value)


def check_value_limits(value: object) -> None:
    """Raise `CanonicalJsonError` unless `value` obeys the strict model (room versions with
    `strict_canonicaljson`): no floats, integers in [-(2**53)+1, (2**53)-1]. The message names
    the offending place, e.g. "float not allowed at content.x: 1.5"."""
    if not _scan(value):
        raise CanonicalJsonError(_describe(value, "") or "value outside canonical JSON")


def _orjson(value: object, option: int) -> bytes:
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError as exc:  # surrogates, integers past 64 bits, ...
        raise CanonicalJsonError(str(exc)) from exc


def encode_canonical(value: object) -> bytes:
    """The canonical JSON bytes of `value`; `CanonicalJsonError` if it is outside the model."""
    if not _scan(value):
        raise CanonicalJsonError(_describe(value, "") or "value outside canonical JSON")
    return _orjson(value, _SORT)


def encode_canonical_lenient(value: object) -> bytes:
    """Canonical JSON that also takes floats and integers of any size (room versions 1-5),
    written as the reference implementation writes them. Same bytes as `encode_canonical`
    whenever that one succeeds."""
    if _scan(value):
        return _orjson(value, _SORT)
    try:
        _check_keys(value)
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
        return text.encode("utf-8")
    except CanonicalJsonError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:
        raise CanonicalJsonError(str(exc)) from exc


def encode_checked(value: object) -> bytes:
    """Encode a value already known to be within the strict model (`is_strict_value` or
    `check_value_limits` said so), skipping the walk. orjson still refuses integers out of
    range, but would write a float: never pass it unchecked values."""
    return _orjson(value, _SORT_STRICT_INT)


def canonical_size(value: object, *, strict: bool = True) -> int:
    """Length in bytes of the canonical encoding of `value` (lenient encoding when `strict` is
    false, for room versions 1-5)."""
    return len(encode_canonical(value) if strict else encode_canonical_lenient(value))


def _integral_floats_to_int(value: Any) -> Any:
    if type(value) is float:
        if value.is_integer() and CANONICALJSON_MIN_INT <= value <= CANONICALJSON_MAX_INT:
            return int(value)
        return value
    if type(value) is dict:
        return {key: _integral_floats_to_int(child) for key, child in value.items()}
    if type(value) is list:
        return [_integral_floats_to_int(child) for child in value]
    return value


def decode_json(data: bytes | str, *, integral_floats_to_int: bool = True) -> Any:
    """Parse JSON text (strict RFC 8259: no NaN, no trailing commas; invalid UTF-8 refused).

    A number written with a fraction or exponent whose value is a whole number in the canonical
    range (`1e10`, `2.0`, `-0.0`) is returned as an `int`, since it is the same JSON number as the
    integer (spec example: `{"b": 1e10}` is canonically `{"b":10000000000}`). Pass
    `integral_floats_to_int=False` to keep such numbers as floats (e.g. to re-hash a room
    version 1-5 event exactly as its origin did)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CanonicalJsonError(f"invalid JSON: {exc}") from exc
    if integral_floats_to_int:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if _MAYBE_FLOAT.search(raw):
            value = _integral_floats_to_int(value)
    return value
