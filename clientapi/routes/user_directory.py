"""The user directory (spec: "User Directory"): POST /user_directory/search."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json, required
from clientapi.responses import json_response
from homeserver.appkeys import USER_DIRECTORY
from homeserver.user_directory import DEFAULT_LIMIT

routes = web.RouteTableDef()


@routes.post("/_matrix/client/v3/user_directory/search")
async def search(request: web.Request) -> web.Response:
    body = await read_json(request)
    term = required(body, "search_term", str)
    limit = field(body, "limit", int)
    found = await request.app[USER_DIRECTORY].search(
        requester(request).user_id, term, DEFAULT_LIMIT if limit is None else limit
    )
    results: list[dict[str, Any]] = []
    for user in found.results:
        entry: dict[str, Any] = {"user_id": user.user_id}
        if user.displayname is not None:
            entry["display_name"] = user.displayname
        if user.avatar_url is not None:
            entry["avatar_url"] = user.avatar_url
        results.append(entry)
    return json_response({"results": results, "limited": found.limited})
