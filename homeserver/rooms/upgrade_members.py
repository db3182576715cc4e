"""A room upgrade's carry-over of its members' own settings (spec: "Room Upgrades": the server
should transfer the user's personalised settings such as notifications and tags). As Synapse
does at upgrade time, for the old room's joined members on this server: the room's tags, its
place in m.direct, and the push rules naming it (a muted room stays muted)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from homeserver.account_data import AccountData
from homeserver.errors import MatrixError
from homeserver.ids import RoomID
from homeserver.push.rules import Rule, UserRules
from homeserver.push.service import PushRules
from homeserver.storage.room_upgrades import DIRECT, TAG, MemberData, RoomUpgradeStore

log = logging.getLogger(__name__)

RULE_KINDS = ("override", "room", "underride")  # the kinds whose rules can name a room


class MemberSettings:
    def __init__(
        self, store: RoomUpgradeStore, account_data: AccountData, push_rules: PushRules, server_name: str
    ) -> None:
        self._store = store
        self._account_data = account_data
        self._push_rules = push_rules
        self._server_name = server_name

    async def transfer(self, old: RoomID, new: RoomID) -> None:
        """Copy what the old room's local members set for it to the new room. A failure for
        one member is logged and the others go on: the upgrade itself is done."""
        for entry in await self._store.member_data(old, self._server_name):
            try:
                await self._transfer(entry, old, new)
            except MatrixError as e:
                log.warning("room upgrade: %s of %s not carried to %s: %s", entry.type, entry.user_id, new, e)

    async def _transfer(self, entry: MemberData, old: RoomID, new: RoomID) -> None:
        if entry.type == TAG:
            if entry.content.get("tags"):
                await self._account_data.write(entry.user_id, new, TAG, entry.content)
        elif entry.type == DIRECT:
            direct = direct_with_replacement(entry.content, old, new)
            if direct is not None:
                await self._account_data.write(entry.user_id, None, DIRECT, direct)
        else:  # m.push_rules: read again through the service, which serialises each user's changes
            rules = await self._push_rules.user_rules(entry.user_id)
            for kind, rule in rules_for_replacement(rules, old, new):
                await self._push_rules.put_rule(entry.user_id, kind, rule)


def direct_with_replacement(content: Mapping[str, Any], old: RoomID, new: RoomID) -> dict[str, Any] | None:
    """m.direct with the new room next to the old one in each list naming it; None if none."""
    out = dict(content)
    for user_id, room_ids in content.items():
        if isinstance(room_ids, list) and old in room_ids and new not in room_ids:
            out[user_id] = [*room_ids, new]
    return out if out != content else None


def rules_for_replacement(rules: UserRules, old: RoomID, new: RoomID) -> list[tuple[str, Rule]]:
    """Copies, for the new room, of the user's rules for the old one: a room rule (its ID is
    the room's), and override/underride rules matching `room_id` against the old room whose
    IDs name it (as clients make them, for example to mute a room). A rule whose ID does not
    name the room is left alone: its copy would replace it."""
    copies: list[tuple[str, Rule]] = []
    for kind in RULE_KINDS:
        for rule in rules.custom.get(kind, ()):
            rule_id = rule.get("rule_id")
            if not isinstance(rule_id, str) or old not in rule_id:
                continue
            if kind == "room":
                if rule_id == old:
                    copies.append((kind, {**copy.deepcopy(rule), "rule_id": new}))
                continue
            conditions = rule.get("conditions")
            if isinstance(conditions, list) and any(_matches_room(c, old) for c in conditions):
                moved = [{**c, "pattern": new} if _matches_room(c, old) else c for c in conditions]
                copied = {**copy.deepcopy(rule), "rule_id": rule_id.replace(old, new), "conditions": moved}
                copies.append((kind, copied))
    return copies


def _matches_room(condition: object, room_id: RoomID) -> bool:
    return (
        isinstance(condition, dict)
        and condition.get("kind") == "event_match"
        and condition.get("key") == "room_id"
        and condition.get("pattern") == room_id
    )
