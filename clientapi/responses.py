"""JSON responses, encoded once with orjson."""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web


def dumps(data: Any) -> bytes:
    """`data` as JSON. orjson refuses values nested more than 255 levels; an event from another
    server (or stored before clients were limited) can be that deep once wrapped in a /sync
    response, so those few fall back to the standard library rather than failing."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json", headers=headers)
