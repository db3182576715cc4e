"""Push rules (spec: "Push Rules: API", pushrules.yaml): the user's global ruleset, one rule,
and a rule's `enabled` flag and `actions`, for the user's own rules and the server defaults."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import read_json
from clientapi.responses import json_response
from clientapi.routes.common import path_param
from homeserver.appkeys import PUSH_RULES
from homeserver.ids import UserID
from homeserver.push.validation import (
    check_kind,
    check_new_rule_id,
    parse_actions_body,
    parse_enabled,
    parse_rule,
)

routes = web.RouteTableDef()
RULE = "/_matrix/client/v3/pushrules/global/{kind}/{rule_id}"


def _user(request: web.Request) -> UserID:
    return UserID(requester(request).user_id)


def _rule_path(request: web.Request) -> tuple[str, str]:
    return check_kind(path_param(request, "kind")), path_param(request, "rule_id")


@routes.get("/_matrix/client/v3/pushrules/")
async def get_all(request: web.Request) -> web.Response:
    return json_response(await request.app[PUSH_RULES].content(_user(request)))


@routes.get("/_matrix/client/v3/pushrules/global/")
async def get_global(request: web.Request) -> web.Response:
    return json_response(await request.app[PUSH_RULES].ruleset(_user(request)))


@routes.get(RULE)
async def get_rule(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    return json_response(await request.app[PUSH_RULES].rule(_user(request), kind, rule_id))


@routes.put(RULE)
async def put_rule(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    check_new_rule_id(kind, rule_id)
    rule = parse_rule(kind, rule_id, await read_json(request))
    before, after = request.query.get("before"), request.query.get("after")
    await request.app[PUSH_RULES].put_rule(_user(request), kind, rule, before=before, after=after)
    return json_response({})


@routes.delete(RULE)
async def delete_rule(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    await request.app[PUSH_RULES].delete_rule(_user(request), kind, rule_id)
    return json_response({})


@routes.get(RULE + "/enabled")
async def get_enabled(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    rule = await request.app[PUSH_RULES].rule(_user(request), kind, rule_id)
    return json_response({"enabled": rule["enabled"]})


@routes.put(RULE + "/enabled")
async def put_enabled(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    enabled = parse_enabled(await read_json(request))
    await request.app[PUSH_RULES].set_enabled(_user(request), kind, rule_id, enabled)
    return json_response({})


@routes.get(RULE + "/actions")
async def get_actions(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    rule = await request.app[PUSH_RULES].rule(_user(request), kind, rule_id)
    return json_response({"actions": rule["actions"]})


@routes.put(RULE + "/actions")
async def put_actions(request: web.Request) -> web.Response:
    kind, rule_id = _rule_path(request)
    actions = parse_actions_body(await read_json(request))
    await request.app[PUSH_RULES].set_actions(_user(request), kind, rule_id, actions)
    return json_response({})
