"""Push rules as data: the spec's server-default rules, and a user's rules (their own plus the
defaults with whatever they changed) rendered as the ruleset clients read.

A ruleset is the wire format (`push_ruleset.yaml`): kind -> list of rule objects, most
important first. The server-default rules are written exactly as the spec lists them, with
the spec's placeholders for the user's Matrix ID and its local part, substituted per user.

The legacy rules that look for mentions in `content.body` (`.m.rule.contains_display_name`,
`.m.rule.contains_user_name`, `.m.rule.roomnotif`) were dropped from the spec in v1.17; they
are kept as server-default rules, as servers and clients still ship them, and the evaluator
skips them for events that carry `m.mentions` (spec: "Mentioning")."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from homeserver.ids import UserID, user_id_localpart

Rule = dict[str, Any]
Ruleset = dict[str, list[Rule]]

# The kinds, in the order they are checked.
KINDS: Final = ("override", "content", "room", "sender", "underride")
USER_ID: Final = "[the user's Matrix ID]"
LOCALPART: Final = "[the local part of the user's Matrix ID]"
MASTER: Final = ".m.rule.master"  # above every rule, even the user's own
LEGACY_MENTION_RULES: Final = frozenset(
    {".m.rule.contains_display_name", ".m.rule.contains_user_name", ".m.rule.roomnotif"}
)

_SOUND_DEFAULT: Final = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT: Final = {"set_tweak": "highlight"}


def _default(rule_id: str, actions: list[Any], **rest: Any) -> Rule:
    return {"rule_id": rule_id, "default": True, "enabled": True, **rest, "actions": actions}


def _match(key: str, pattern: str) -> dict[str, str]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _is(key: str, value: object) -> dict[str, object]:
    return {"kind": "event_property_is", "key": key, "value": value}


DEFAULT_RULES: Final[Mapping[str, tuple[Rule, ...]]] = {
    "override": (
        {**_default(MASTER, [], conditions=[]), "enabled": False},
        _default(".m.rule.suppress_notices", [], conditions=[_match("content.msgtype", "m.notice")]),
        _default(
            ".m.rule.invite_for_me",
            ["notify", _SOUND_DEFAULT],
            conditions=[
                _match("type", "m.room.member"),
                _match("content.membership", "invite"),
                _match("state_key", USER_ID),
            ],
        ),
        _default(".m.rule.member_event", [], conditions=[_match("type", "m.room.member")]),
        _default(
            ".m.rule.is_user_mention",
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
            conditions=[
                {"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": USER_ID}
            ],
        ),
        _default(
            ".m.rule.contains_display_name",
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
            conditions=[{"kind": "contains_display_name"}],
        ),
        _default(
            ".m.rule.is_room_mention",
            ["notify", _HIGHLIGHT],
            conditions=[
                _is("content.m\\.mentions.room", True),
                {"kind": "sender_notification_permission", "key": "room"},
            ],
        ),
        _default(
            ".m.rule.roomnotif",
            ["notify", _HIGHLIGHT],
            conditions=[
                _match("content.body", "@room"),
                {"kind": "sender_notification_permission", "key": "room"},
            ],
        ),
        _default(
            ".m.rule.tombstone",
            ["notify", _HIGHLIGHT],
            conditions=[_match("type", "m.room.tombstone"), _match("state_key", "")],
        ),
        _default(".m.rule.reaction", [], conditions=[_match("type", "m.reaction")]),
        _default(
            ".m.rule.room.server_acl",
            [],
            conditions=[_match("type", "m.room.server_acl"), _match("state_key", "")],
        ),
        _default(
            ".m.rule.suppress_edits", [], conditions=[_is("content.m\\.relates_to.rel_type", "m.replace")]
        ),
    ),
    "content": (
        _default(".m.rule.contains_user_name", ["notify", _SOUND_DEFAULT, _HIGHLIGHT], pattern=LOCALPART),
    ),
    "room": (),
    "sender": (),
    "underride": (
        _default(
            ".m.rule.call",
            ["notify", {"set_tweak": "sound", "value": "ring"}],
            conditions=[_match("type", "m.call.invite")],
        ),
        _default(
            ".m.rule.encrypted_room_one_to_one",
            ["notify", _SOUND_DEFAULT],
            conditions=[{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.encrypted")],
        ),
        _default(
            ".m.rule.room_one_to_one",
            ["notify", _SOUND_DEFAULT],
            conditions=[{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.message")],
        ),
        _default(".m.rule.message", ["notify"], conditions=[_match("type", "m.room.message")]),
        _default(".m.rule.encrypted", ["notify"], conditions=[_match("type", "m.room.encrypted")]),
    ),
}


def default_rule(kind: str, rule_id: str) -> Rule | None:
    """The server-default rule of this kind and ID, unsubstituted (None if there is none)."""
    return next((r for r in DEFAULT_RULES.get(kind, ()) if r["rule_id"] == rule_id), None)


def default_rules_for(user_id: UserID) -> Ruleset:
    """A fresh copy of the server-default rules with the user's ID substituted."""
    values = {USER_ID: user_id, LOCALPART: user_id_localpart(user_id)}
    return {kind: [_substitute(rule, values) for rule in DEFAULT_RULES[kind]] for kind in KINDS}


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return values.get(value, value)
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class UserRules:
    """What a user has set: their own rules per kind, most important first, and the
    `enabled` flag and `actions` of the server-default rules they changed."""

    custom: Mapping[str, tuple[Rule, ...]] = field(default_factory=lambda: {k: () for k in KINDS})
    # (kind, rule_id) -> {"enabled": bool, "actions": [...]} for changed server-default rules
    defaults: Mapping[tuple[str, str], Rule] = field(default_factory=dict)

    def render(self, user_id: UserID) -> Ruleset:
        """The user's whole ruleset: their rules above the server defaults of each kind, except
        `.m.rule.master`, which stays above everything."""
        ruleset: Ruleset = {}
        for kind, defaults in default_rules_for(user_id).items():
            for rule in defaults:
                rule.update(copy.deepcopy(self.defaults.get((kind, rule["rule_id"]), {})))
            custom = [copy.deepcopy(rule) for rule in self.custom.get(kind, ())]
            first = [r for r in defaults if r["rule_id"] == MASTER]
            rest = [r for r in defaults if r["rule_id"] != MASTER]
            ruleset[kind] = first + custom + rest
        return ruleset


def user_rules_from_ruleset(ruleset: Any) -> UserRules:
    """Recover what a user set from a ruleset rendered by `UserRules.render` (the stored
    `m.push_rules` content's `global`); entries that are not well-formed rules are dropped."""
    custom: dict[str, tuple[Rule, ...]] = {kind: () for kind in KINDS}
    defaults: dict[tuple[str, str], Rule] = {}
    if not isinstance(ruleset, dict):
        return UserRules(custom, defaults)
    for kind in KINDS:
        rules = ruleset.get(kind)
        if not isinstance(rules, list):
            continue
        own: list[Rule] = []
        for rule in rules:
            if not _well_formed(kind, rule):
                continue
            if rule["rule_id"].startswith("."):
                changed = _changed_default(kind, rule)
                if changed:
                    defaults[(kind, rule["rule_id"])] = changed
            else:
                own.append(_own_rule(kind, rule))
        custom[kind] = tuple(own)
    return UserRules(custom, defaults)


def _well_formed(kind: str, rule: Any) -> bool:
    if not isinstance(rule, dict) or not isinstance(rule.get("rule_id"), str):
        return False
    if not isinstance(rule.get("enabled"), bool) or not isinstance(rule.get("actions"), list):
        return False
    if kind == "content" and not rule["rule_id"].startswith("."):
        return isinstance(rule.get("pattern"), str)
    if kind in ("override", "underride") and not rule["rule_id"].startswith("."):
        return isinstance(rule.get("conditions"), list)
    return True


def _changed_default(kind: str, rule: Rule) -> Rule:
    """The settings of a stored server-default rule that differ from the rule's default."""
    default = default_rule(kind, rule["rule_id"])
    if default is None:
        return {}  # a default rule this server no longer has
    return {key: rule[key] for key in ("enabled", "actions") if rule[key] != default[key]}


def _own_rule(kind: str, rule: Rule) -> Rule:
    own: Rule = {"rule_id": rule["rule_id"], "default": False, "enabled": rule["enabled"]}
    if kind in ("override", "underride"):
        own["conditions"] = rule["conditions"]
    elif kind == "content":
        own["pattern"] = rule["pattern"]
    own["actions"] = rule["actions"]
    return own
