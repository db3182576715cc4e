"""Evaluating one event for many users with shared conditions and a per-event memo (how the
push planner evaluates an event for every member) gives each user the result their own
evaluator gives alone: the memo never carries a user-dependent result to another user."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from homeserver.ids import UserID
from homeserver.push.evaluator import PushContext, PushEvaluator, SharedConditions
from homeserver.push.rules import default_rules_for
from tests.homeserver.test_push_evaluator import ALICE, CONTEXT, DEFAULT_RULE_CASES, message

CAROL = UserID("@carol:example.org")


def _rulesets() -> dict[UserID, dict[str, list[dict[str, Any]]]]:
    carol = default_rules_for(CAROL)  # with a keyword rule and a muted default
    carol["content"].insert(
        0, {"rule_id": "lunch", "default": False, "enabled": True, "pattern": "lunch", "actions": ["notify"]}
    )
    for rule in carol["underride"]:
        if rule["rule_id"] == ".m.rule.message":
            rule["actions"] = []
    return {ALICE: default_rules_for(ALICE), CAROL: carol}


CASES = [case[1] for case in DEFAULT_RULE_CASES] + [
    message("lunch with alice?"),
    message("Carol: lunch", **{"m.mentions": {"user_ids": [CAROL]}}),
    message("Alice Liddell and carol"),
]


@pytest.mark.parametrize("event", CASES)
def test_shared_memo_gives_each_user_their_own_result(event: dict[str, Any]) -> None:
    shared = SharedConditions()
    rulesets = _rulesets()
    contexts = {
        ALICE: CONTEXT,
        CAROL: replace(CONTEXT, user_id=CAROL, display_name="Carol"),
    }
    memo: dict[tuple[int, ...], bool] = {}
    for order in ((ALICE, CAROL), (CAROL, ALICE)):
        memo.clear()
        for user in order:
            context: PushContext = contexts[user]
            alone = PushEvaluator(rulesets[user]).first_match(event, context)
            together = PushEvaluator(rulesets[user], shared).first_match(event, context, memo)
            assert (together.rule_id if together else None) == (alone.rule_id if alone else None)
            assert (together.actions if together else None) == (alone.actions if alone else None)


def test_identical_conditions_are_compiled_once() -> None:
    shared = SharedConditions()
    a = PushEvaluator(default_rules_for(ALICE), shared)
    c = PushEvaluator(default_rules_for(CAROL), shared)
    by_id = {r.rule_id: r for r in c.rules}
    same = [r.rule_id for r in a.rules if r.conditions == by_id[r.rule_id].conditions]
    assert ".m.rule.message" in same and ".m.rule.suppress_notices" in same
    assert ".m.rule.is_user_mention" not in same  # holds the user's own ID
