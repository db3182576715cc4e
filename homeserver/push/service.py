"""Each user's push rules, kept as their `m.push_rules` account data (spec: "Push Rules:
Events": the content is the user's current rules, sent to clients in /sync's account_data).

The stored content is the whole ruleset as clients read it; what the user set is recovered
from it and rendered again over this server's defaults, so the defaults can change without a
migration. Changes to one user's rules are serialised (read, change, write)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from homeserver.account_data import AccountData
from homeserver.errors import NotFound, TooLarge
from homeserver.ids import UserID
from homeserver.push.edits import delete_rule, put_rule, set_attribute
from homeserver.push.evaluator import PushEvaluator, SharedConditions
from homeserver.push.rules import Rule, Ruleset, UserRules, user_rules_from_ruleset
from homeserver.rooms.heads import KeyedLocks
from homeserver.storage.account_data import AccountDataStore

PUSH_RULES: Final = "m.push_rules"
MAX_CONTENT_BYTES: Final = 1024 * 1024  # the whole stored ruleset


class PushRules:
    def __init__(self, store: AccountDataStore, account_data: AccountData) -> None:
        self._store = store
        self._account_data = account_data
        self._locks = KeyedLocks()
        self._shared = SharedConditions()  # conditions compiled once for all users

    async def user_rules(self, user_id: UserID) -> UserRules:
        content = await self._store.get(user_id, None, PUSH_RULES)
        return user_rules_from_ruleset(content.get("global") if content else None)

    async def ruleset(self, user_id: UserID) -> Ruleset:
        """The user's whole global ruleset, defaults included."""
        return (await self.user_rules(user_id)).render(user_id)

    async def content(self, user_id: UserID) -> dict[str, Any]:
        """The `m.push_rules` account data content, also for users who never changed a rule."""
        return {"global": await self.ruleset(user_id)}

    def default_content(self, user_id: UserID) -> dict[str, Any]:
        """The content for a user who has stored no rules (no read needed)."""
        return {"global": user_rules_from_ruleset(None).render(user_id)}

    async def evaluator(self, user_id: UserID) -> PushEvaluator:
        return PushEvaluator(await self.ruleset(user_id), self._shared, owner=user_id)

    async def rule(self, user_id: UserID, kind: str, rule_id: str) -> Rule:
        for rule in (await self.ruleset(user_id))[kind]:
            if rule["rule_id"] == rule_id:
                return rule
        raise NotFound("The push rule was not found")

    async def put_rule(
        self, user_id: UserID, kind: str, rule: Rule, *, before: str | None = None, after: str | None = None
    ) -> None:
        """Add or replace a user-defined rule (`rule` checked by `validation.parse_rule`)."""
        await self._change(user_id, lambda rules: put_rule(rules, kind, rule, before=before, after=after))

    async def delete_rule(self, user_id: UserID, kind: str, rule_id: str) -> None:
        await self._change(user_id, lambda rules: delete_rule(rules, kind, rule_id))

    async def set_enabled(self, user_id: UserID, kind: str, rule_id: str, enabled: bool) -> None:
        await self._change(user_id, lambda rules: set_attribute(rules, kind, rule_id, "enabled", enabled))

    async def set_actions(self, user_id: UserID, kind: str, rule_id: str, actions: list[Any]) -> None:
        await self._change(user_id, lambda rules: set_attribute(rules, kind, rule_id, "actions", actions))

    async def _change(self, user_id: UserID, change: Callable[[UserRules], UserRules]) -> None:
        async with self._locks.hold(user_id):
            new = change(await self.user_rules(user_id))
            content = {"global": new.render(user_id)}
            if len(orjson.dumps(content)) > MAX_CONTENT_BYTES:
                raise TooLarge(f"A user's push rules must not exceed {MAX_CONTENT_BYTES} bytes")
            await self._account_data.write(user_id, None, PUSH_RULES, content)
