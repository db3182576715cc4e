"""Reading request bodies and parameters, with the spec's errors for bad input."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web

from homeserver.errors import BadJson, InvalidParam, MissingParam, NotJson, TooLarge

T = TypeVar("T")

# Deepest nesting of objects and arrays taken from a client. orjson cannot encode past 255
# levels, and stored values are wrapped a dozen levels deeper in /sync: a value accepted at
# 250 levels would make every later response that carries it fail.
MAX_JSON_DEPTH = 100


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object: M_TOO_LARGE past the size limit, M_NOT_JSON if it does not
    parse, M_BAD_JSON if it is not an object. An empty body is an empty object."""
    limit = request.app._client_max_size  # the same limit aiohttp enforces while reading
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge("Request body too large")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge("Request body too large") from None
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise NotJson("Content not JSON") from None
    if not isinstance(body, dict):
        raise BadJson("Content must be a JSON object")
    check_depth(body, raw)
    return body


def check_depth(value: object, raw: bytes | str) -> None:
    """M_BAD_JSON if `value` (parsed from `raw`) nests objects and arrays more than
    MAX_JSON_DEPTH levels deep."""
    text = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if text.count(b"[") + text.count(b"{") <= MAX_JSON_DEPTH:
        return  # too few brackets to nest that deep (brackets in strings only overcount)
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            raise BadJson(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def field(body: dict[str, Any], key: str, kind: type[T], *, required: bool = False) -> T | None:
    """`body[key]` checked to be of `kind` (bool is not an int); None when absent or null,
    unless required."""
    value = body.get(key)
    if value is None:
        if required:
            raise MissingParam(f"Missing parameter '{key}'")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidParam(f"'{key}' must be of type {_json_type(kind)}")
    return value


def required(body: dict[str, Any], key: str, kind: type[T]) -> T:
    value = field(body, key, kind, required=True)
    assert value is not None
    return value


def bool_field(body: dict[str, Any], key: str, default: bool) -> bool:
    value = field(body, key, bool)
    return default if value is None else value


def string_list(body: dict[str, Any], key: str, *, max_items: int = 1000) -> list[str]:
    values = required(body, key, list)
    if len(values) > max_items or not all(isinstance(v, str) and "\x00" not in v for v in values):
        raise InvalidParam(f"'{key}' must be a list of at most {max_items} strings without NUL characters")
    return values


def query_param(request: web.Request, key: str, *, required: bool = False) -> str | None:
    value = request.query.get(key)
    if value is None and required:
        raise MissingParam(f"Missing query parameter '{key}'")
    return value


def _json_type(kind: type[Any]) -> str:
    return {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}.get(
        kind, kind.__name__
    )
