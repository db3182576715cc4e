"""What sets one user's compiled push rules apart from another's (see `PushEvaluator`).

A condition is *personal* when its result is the user's own: it reads their display name, or
its JSON names them (the defaults' `.m.rule.invite_for_me`, `.m.rule.is_user_mention`,
`.m.rule.contains_user_name`, or a rule a user wrote about themselves). Every other condition
is the same object for every user who wrote it the same way (`SharedConditions`), so the
*shape* of an evaluator (its rules' other conditions, and which rules have personal ones) can
be compared across users."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from homeserver.push.evaluator import CompiledRule


def names_user(value: Any, user_id: str, localpart: str) -> bool:
    """Whether JSON holds a string that is the user's ID or local part, or contains the ID.
    Over-matching costs sharing, never correctness: a personal condition is evaluated per user."""
    if isinstance(value, str):
        return value == localpart or user_id in value
    if isinstance(value, dict):
        return any(
            names_user(key, user_id, localpart) or names_user(item, user_id, localpart)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(names_user(item, user_id, localpart) for item in value)
    return False


def rules_shape(rules: tuple[CompiledRule, ...]) -> Hashable:
    """What decides which rules can match an event before the personal conditions are asked:
    per rule, its other condition objects, whether it has personal ones and the event
    properties they need, and whether m.mentions switches it off. Rule IDs and actions are
    left out on purpose: the rule found is taken from the user's own evaluator by its index,
    with the user's own actions."""
    return tuple((rule.legacy, rule.common, bool(rule.personal), rule.personal_reads) for rule in rules)
