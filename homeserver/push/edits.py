"""Changes to a user's push rules, as pure functions from the old `UserRules` to the new one.
Each raises before returning anything when the change is not allowed, so a refused change
leaves nothing half-done."""

from __future__ import annotations

import dataclasses
from typing import Any

from homeserver.errors import InvalidParam, NotFound, Unknown
from homeserver.push.rules import Rule, UserRules, default_rule


def put_rule(rules: UserRules, kind: str, rule: Rule, *, before: str | None, after: str | None) -> UserRules:
    """Add or replace a user-defined rule (spec: PUT /pushrules/global/{kind}/{ruleId}).

    An existing rule keeps its `enabled` flag and, without `before`/`after`, its place; a new
    one goes first among the user's rules of its kind. `before` wins over `after`."""
    own = list(rules.custom[kind])
    index = next((i for i, r in enumerate(own) if r["rule_id"] == rule["rule_id"]), None)
    if index is not None:
        rule = {**rule, "enabled": own[index]["enabled"]}
    anchor = before if before is not None else after
    if anchor is None:
        if index is None:
            own.insert(0, rule)
        else:
            own[index] = rule
        return _with_custom(rules, kind, own)
    if index is not None:
        del own[index]
    if anchor.startswith("."):
        raise InvalidParam("A rule cannot be placed relative to a server-default rule")
    target = next((i for i, r in enumerate(own) if r["rule_id"] == anchor), None)
    if target is None:
        raise Unknown(f"before/after rule not found: {anchor}")
    own.insert(target if before is not None else target + 1, rule)
    return _with_custom(rules, kind, own)


def delete_rule(rules: UserRules, kind: str, rule_id: str) -> UserRules:
    if rule_id.startswith(".") and default_rule(kind, rule_id) is not None:
        raise InvalidParam("Server-default rules cannot be deleted; disable them instead")
    own = list(rules.custom[kind])
    kept = [r for r in own if r["rule_id"] != rule_id]
    if len(kept) == len(own):
        raise NotFound("The push rule was not found")
    return _with_custom(rules, kind, kept)


def set_attribute(rules: UserRules, kind: str, rule_id: str, name: str, value: Any) -> UserRules:
    """Set `enabled` or `actions` of a user-defined or server-default rule."""
    assert name in ("enabled", "actions")
    if rule_id.startswith("."):
        if default_rule(kind, rule_id) is None:
            raise NotFound("The push rule was not found")
        changed = dict(rules.defaults)
        changed[(kind, rule_id)] = {**changed.get((kind, rule_id), {}), name: value}
        return dataclasses.replace(rules, defaults=changed)
    own = list(rules.custom[kind])
    index = next((i for i, r in enumerate(own) if r["rule_id"] == rule_id), None)
    if index is None:
        raise NotFound("The push rule was not found")
    own[index] = {**own[index], name: value}
    return _with_custom(rules, kind, own)


def _with_custom(rules: UserRules, kind: str, own: list[Rule]) -> UserRules:
    return dataclasses.replace(rules, custom={**rules.custom, kind: tuple(own)})
