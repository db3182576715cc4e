"""Canonical JSON and unpadded Base64 against the spec's vectors, the spec's reference
encoder, and the grammar's escaping rules."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeserver.canonicaljson import (
    CANONICALJSON_MAX_INT,
    CANONICALJSON_MIN_INT,
    CanonicalJsonError,
    canonical_size,
    check_value_limits,
    decode_json,
    encode_canonical,
    encode_canonical_lenient,
    is_strict_value,
)
from homeserver.crypto.unpadded_base64 import Base64Error, decode_base64, encode_base64, encode_base64_urlsafe
from tests.homeserver.spec_vectors import load_vectors


def spec_reference(value: Any) -> bytes:
    """The encoder printed in the spec (appendices, "Canonical JSON")."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("UTF-8")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=CANONICALJSON_MIN_INT, max_value=CANONICALJSON_MAX_INT)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


# --- the spec's vectors -------------------------------------------------------------------


def test_spec_canonical_json_vectors() -> None:
    cases = load_vectors("canonical_json.json")["cases"]
    assert len(cases) == 10
    for index, case in enumerate(cases):
        encoded = encode_canonical(decode_json(case["input_text"]))
        assert encoded == case["canonical"].encode("utf-8"), f"case {index}: {case['input_text']!r}"


def test_spec_unpadded_base64_vectors() -> None:
    cases = load_vectors("unpadded_base64.json")["cases"]
    for case in cases:
        raw = case["input"].encode("utf-8")
        assert encode_base64(raw) == case["output"]
        assert decode_base64(case["output"]) == raw


# --- encoding -----------------------------------------------------------------------------


def test_escapes_exactly_as_the_grammar_says() -> None:
    dedicated = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    for code in range(0x20):
        expected = dedicated.get(code, f"\\u{code:04x}")  # lower-case hex, u000X / u001X
        assert encode_canonical(chr(code)) == f'"{expected}"'.encode(), hex(code)
    assert encode_canonical('"\\') == b'"\\"\\\\"'
    # Everything else is written as itself, UTF-8 encoded: DEL, '/', U+2028, astral planes.
    for text in ["\x7f", "/", "\u2028\u2029", "日本語", "\U0001f600", "\ufeff"]:
        assert encode_canonical(text) == f'"{text}"'.encode()


def test_keys_sorted_by_code_point_not_utf16() -> None:
    # In UTF-16 order U+1F600 (a surrogate pair, 0xD83D...) sorts before U+FFFF; by code point after.
    value = {"\U0001f600": 1, "\uffff": 2, "b": 3, "B": 4, "é": 5, "": 6}
    assert encode_canonical(value) == '{"":6,"B":4,"b":3,"é":5,"\uffff":2,"\U0001f600":1}'.encode()


def test_nested_structures_sorted_and_compact() -> None:
    value = {"z": [{"b": 1, "a": [True, False, None]}], "a": {"y": -5, "x": "s"}}
    assert encode_canonical(value) == b'{"a":{"x":"s","y":-5},"z":[{"a":[true,false,null],"b":1}]}'


def test_integer_range_boundaries() -> None:
    assert (
        encode_canonical([CANONICALJSON_MAX_INT, CANONICALJSON_MIN_INT])
        == b"[9007199254740991,-9007199254740991]"
    )
    for bad in (2**53, -(2**53), 2**64, -(2**70)):
        with pytest.raises(CanonicalJsonError, match="integer out of range"):
            encode_canonical({"n": bad})


@pytest.mark.parametrize("bad", [1.5, 0.0, 1e10, float("nan"), float("inf"), -float("inf")])
def test_floats_refused(bad: float) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical({"content": {"x": bad}})


@pytest.mark.parametrize(
    "bad",
    [
        {1: "a"},
        {"s": {1, 2}},
        {"b": b"bytes"},
        {"d": datetime.datetime(2020, 1, 1)},
        {"t": "\ud800"},
        object(),
    ],
)
def test_non_json_refused(bad: Any) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical(bad)
    with pytest.raises(CanonicalJsonError):
        encode_canonical_lenient(bad)


def test_check_value_limits_names_the_place() -> None:
    check_value_limits({"a": [1, "x", {"b": CANONICALJSON_MAX_INT}]})
    with pytest.raises(CanonicalJsonError, match=r"float not allowed at content\.info\[1\]: 2\.5"):
        check_value_limits({"content": {"info": [1, 2.5]}})
    with pytest.raises(CanonicalJsonError, match=r"integer out of range at depth: 9007199254740992"):
        check_value_limits({"depth": 2**53})
    assert is_strict_value({"a": [1, "x"]}) is True
    assert is_strict_value({"a": [1, 0.5]}) is False


def test_lenient_encoding_matches_the_reference_server() -> None:
    value = {"big": 2**70, "f": 1.5, "e": 1e-7, "neg": -(2**60), "s": "é"}
    assert encode_canonical_lenient(value) == spec_reference(value)
    assert (
        encode_canonical_lenient(value)
        == b'{"big":1180591620717411303424,"e":1e-07,"f":1.5,"neg":-1152921504606846976,"s":"\xc3\xa9"}'
    )
    with pytest.raises(CanonicalJsonError):
        encode_canonical_lenient({"n": float("nan")})


def test_canonical_size() -> None:
    assert canonical_size({"a": "日"}) == len('{"a":"日"}'.encode()) == 11
    assert canonical_size({"a": 2**60}, strict=False) == len(b'{"a":1152921504606846976}')
    with pytest.raises(CanonicalJsonError):
        canonical_size({"a": 2**60})


def test_deep_nesting_refused_cleanly() -> None:
    value: Any = "leaf"
    for _ in range(5000):
        value = [value]
    with pytest.raises(CanonicalJsonError):
        encode_canonical(value)


# --- decoding -----------------------------------------------------------------------------


def test_decode_turns_integral_numbers_into_ints() -> None:
    value = decode_json(b'{"a": -0, "b": 1e10, "c": 2.0, "d": 1.5, "e": "1e5", "f": 1E2}')
    assert value == {"a": 0, "b": 10_000_000_000, "c": 2, "d": 1.5, "e": "1e5", "f": 100}
    assert [type(value[k]) for k in "abcdf"] == [int, int, int, float, int]
    kept = decode_json('{"b": 1e10}', integral_floats_to_int=False)
    assert type(kept["b"]) is float
    assert type(decode_json("[1e300]")[0]) is float  # outside the range: left to be refused


@pytest.mark.parametrize("text", ["{", "[1,]", '{"a": NaN}', "", b'"\xff"', "{'a': 1}"])
def test_decode_refuses_invalid_json(text: str | bytes) -> None:
    with pytest.raises(CanonicalJsonError, match="invalid JSON"):
        decode_json(text)


# --- base64 -------------------------------------------------------------------------------


def test_base64_alphabets_and_padding() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF, 0x00])
    assert encode_base64(raw) == "+/+/AA"
    assert encode_base64_urlsafe(raw) == "-_-_AA"
    for text in ("+/+/AA", "+/+/AA==", "-_-_AA", "-_-_AA=="):
        assert decode_base64(text) == raw
    assert decode_base64(b"Zm9vYg") == b"foob"


@pytest.mark.parametrize("text", ["Z", "Zm9vY", "Zg===", "Z=g", " Zg", "Zg\n", "Zm9v!", "Zé"])
def test_base64_invalid_refused(text: str) -> None:
    with pytest.raises(Base64Error):
        decode_base64(text)


# --- properties ---------------------------------------------------------------------------


@given(json_values)
def test_round_trip(value: Any) -> None:
    assert decode_json(encode_canonical(value)) == value


@given(json_values)
def test_same_bytes_as_the_spec_reference_encoder(value: Any) -> None:
    encoded = encode_canonical(value)
    assert encoded == spec_reference(value)
    assert encode_canonical_lenient(value) == encoded


@given(st.dictionaries(st.text(max_size=6), st.integers(-100, 100), min_size=2, max_size=8), st.randoms())
def test_key_order_of_input_does_not_matter(value: dict[str, int], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert encode_canonical(dict(items)) == encode_canonical(value)


@given(st.binary(max_size=80))
def test_base64_round_trip(raw: bytes) -> None:
    for encoded in (encode_base64(raw), encode_base64_urlsafe(raw)):
        assert "=" not in encoded
        assert decode_base64(encoded) == raw
        assert decode_base64(encoded + "=" * (-len(encoded) % 4)) == raw
