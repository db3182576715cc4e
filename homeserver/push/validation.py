"""Checking what clients send to the push rules API (spec: pushrules.yaml): kinds, rule IDs,
actions and conditions. Path values that are wrong are M_INVALID_PARAM; request bodies that
are JSON but not the shape the spec asks for are M_BAD_JSON."""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from homeserver.errors import BadJson, InvalidParam, TooLarge
from homeserver.ids import is_valid_room_id, is_valid_user_id
from homeserver.push.rules import KINDS, Rule

MAX_RULE_ID_BYTES: Final = 255
MAX_RULE_BYTES: Final = 64 * 1024  # one rule, as large as an event may be
# Canonical JSON integers (spec: event_property_is / event_property_contains values).
MAX_SAFE_INT: Final = 2**53 - 1
# Actions older versions of the spec defined; ignored, so stripped (spec: "Historical Actions").
HISTORICAL_ACTIONS: Final = frozenset({"dont_notify", "coalesce"})
MEMBER_COUNT: Final = re.compile(r"(==|<=|>=|<|>)?([0-9]{1,18})")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidParam(f"Unknown push rule kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def check_new_rule_id(kind: str, rule_id: str) -> str:
    """A rule ID a client may create: not a server-default one ('.'), no slashes, and for
    room and sender rules the room or user the rule is about."""
    if rule_id.startswith("."):
        raise InvalidParam("Rule IDs starting with '.' are reserved for server-default rules")
    if "/" in rule_id or "\\" in rule_id or "\x00" in rule_id:
        raise InvalidParam("Rule IDs must not contain '/', '\\' or NUL")
    if not rule_id or len(rule_id.encode("utf-8", "surrogatepass")) > MAX_RULE_ID_BYTES:
        raise InvalidParam(f"Rule IDs must be 1 to {MAX_RULE_ID_BYTES} bytes long")
    if kind == "room" and not is_valid_room_id(rule_id):
        raise InvalidParam("The rule ID of a room rule must be a room ID")
    if kind == "sender" and not is_valid_user_id(rule_id, historical=True):
        raise InvalidParam("The rule ID of a sender rule must be a user ID")
    return rule_id


def parse_rule(kind: str, rule_id: str, body: dict[str, Any]) -> Rule:
    """The new rule a PUT body describes (enabled; the caller keeps an existing rule's flag)."""
    rule: Rule = {"rule_id": rule_id, "default": False, "enabled": True}
    if kind in ("override", "underride"):
        if "conditions" not in body:
            raise BadJson(f"'conditions' is required for {kind} rules")
        rule["conditions"] = parse_conditions(body["conditions"])
    elif kind == "content":
        pattern = body.get("pattern")
        if not isinstance(pattern, str):
            raise BadJson("'pattern' (a string) is required for content rules")
        rule["pattern"] = pattern
    rule["actions"] = parse_actions_body(body)
    _check_size(rule)
    return rule


def parse_enabled(body: dict[str, Any]) -> bool:
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise BadJson("'enabled' (a boolean) is required")
    return enabled


def parse_actions_body(body: dict[str, Any]) -> list[Any]:
    if "actions" not in body:
        raise BadJson("'actions' is required")
    return parse_actions(body["actions"])


def parse_actions(actions: Any) -> list[Any]:
    """The actions, historical ones stripped; each a known string action or a `set_tweak`."""
    if not isinstance(actions, list):
        raise BadJson("'actions' must be an array")
    kept: list[Any] = []
    for action in actions:
        if isinstance(action, str) and action in HISTORICAL_ACTIONS:
            continue
        if action == "notify":
            kept.append(action)
        elif isinstance(action, dict) and isinstance(action.get("set_tweak"), str):
            if action["set_tweak"] == "highlight" and not isinstance(action.get("value", True), bool):
                raise BadJson("The value of the 'highlight' tweak must be a boolean")
            kept.append(action)
        else:
            raise BadJson(f"Unknown push rule action: {action!r}")
    _check_size(kept)
    return kept


def _check_size(value: object) -> None:
    if len(orjson.dumps(value)) > MAX_RULE_BYTES:
        raise TooLarge(f"A push rule must not exceed {MAX_RULE_BYTES} bytes")


def parse_conditions(conditions: Any) -> list[dict[str, Any]]:
    """Conditions with the parameters their kind needs. Kinds this server does not know are
    kept: they never match (spec), which is the client's business."""
    if not isinstance(conditions, list):
        raise BadJson("'conditions' must be an array")
    for condition in conditions:
        if not isinstance(condition, dict) or not isinstance(condition.get("kind"), str):
            raise BadJson("Each condition must be an object with a string 'kind'")
        _check_condition(condition)
    return conditions


def _check_condition(condition: dict[str, Any]) -> None:
    kind = condition["kind"]
    if kind in (
        "event_match",
        "event_property_is",
        "event_property_contains",
        "sender_notification_permission",
    ):
        _require_string(condition, "key", kind)
    if kind == "event_match":
        _require_string(condition, "pattern", kind)
    elif kind in ("event_property_is", "event_property_contains"):
        if "value" not in condition or not is_scalar(condition["value"]):
            raise BadJson(f"{kind} needs a 'value': a string, an integer, a boolean or null")
    elif kind == "room_member_count":
        member_count = condition.get("is")
        if not isinstance(member_count, str) or not MEMBER_COUNT.fullmatch(member_count):
            raise BadJson("room_member_count needs 'is': an integer, optionally after ==, <, >, <= or >=")


def _require_string(condition: dict[str, Any], name: str, kind: str) -> None:
    if not isinstance(condition.get(name), str):
        raise BadJson(f"{kind} needs a string {name!r}")


def is_scalar(value: object) -> bool:
    """A non-compound canonical JSON value: string, integer in range, boolean or null."""
    if value is None or isinstance(value, bool | str):
        return True
    return isinstance(value, int) and -MAX_SAFE_INT <= value <= MAX_SAFE_INT
