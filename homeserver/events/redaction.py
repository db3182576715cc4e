"""The redaction algorithm (room versions, "Redactions"), for every room version.

Which keys survive depends on the version's flags, never on its identifier:
- v1-v5 (`special_case_aliases_auth`): `m.room.aliases` keeps `aliases`;
- v8+ (`restricted_join_rule`): `m.room.join_rules` keeps `allow`;
- v9+ (`restricted_join_rule_fix`): `m.room.member` keeps `join_authorised_via_users_server`;
- v11+ (`updated_redaction_rules`): top-level `origin`, `membership` and `prev_state` are no
  longer kept; `m.room.create` keeps all of its content, `m.room.power_levels` keeps `invite`,
  `m.room.redaction` keeps `redacts`, `m.room.member` keeps `third_party_invite.signed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeserver.room_versions import RoomVersion

__all__ = ["redact", "with_redacted_because"]

_TOP_LEVEL_V1: Final = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "prev_state",
        "auth_events",
        "origin",
        "origin_server_ts",
        "membership",
    }
)
_TOP_LEVEL_V11: Final = _TOP_LEVEL_V1 - {"origin", "membership", "prev_state"}

_POWER_LEVELS_KEYS: Final = (
    "ban",
    "events",
    "events_default",
    "kick",
    "redact",
    "state_default",
    "users",
    "users_default",
)


def _pick(content: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: content[key] for key in keys if key in content}


def _redact_content(event_type: object, content: Mapping[str, Any], version: RoomVersion) -> dict[str, Any]:
    if event_type == "m.room.member":
        kept = _pick(content, ("membership",))
        if version.restricted_join_rule_fix and "join_authorised_via_users_server" in content:
            kept["join_authorised_via_users_server"] = content["join_authorised_via_users_server"]
        if version.updated_redaction_rules:
            invite = content.get("third_party_invite")
            if isinstance(invite, Mapping):
                kept["third_party_invite"] = _pick(invite, ("signed",))
        return kept
    if event_type == "m.room.create":
        return dict(content) if version.updated_redaction_rules else _pick(content, ("creator",))
    if event_type == "m.room.join_rules":
        keys = ("join_rule", "allow") if version.restricted_join_rule else ("join_rule",)
        return _pick(content, keys)
    if event_type == "m.room.power_levels":
        if version.updated_redaction_rules:
            return _pick(content, (*_POWER_LEVELS_KEYS, "invite"))
        return _pick(content, _POWER_LEVELS_KEYS)
    if event_type == "m.room.history_visibility":
        return _pick(content, ("history_visibility",))
    if event_type == "m.room.aliases" and version.special_case_aliases_auth:
        return _pick(content, ("aliases",))
    if event_type == "m.room.redaction" and version.updated_redaction_rules:
        return _pick(content, ("redacts",))
    return {}


def redact(pdu: Mapping[str, Any], version: RoomVersion) -> dict[str, Any]:
    """The redacted form of `pdu` under `version`'s rules, as a new dict.

    Keeps `hashes` and `signatures` (they cover the redacted form), drops `unsigned` entirely,
    and always has a `content` object (empty when nothing is kept). Idempotent. Nested values
    are shared with `pdu`, not copied: treat both as read-only."""
    keep = _TOP_LEVEL_V11 if version.updated_redaction_rules else _TOP_LEVEL_V1
    redacted = {key: value for key, value in pdu.items() if key in keep}
    content = pdu.get("content")
    if type(content) is dict or isinstance(content, Mapping):
        redacted["content"] = _redact_content(pdu.get("type"), content, version)
    else:
        redacted["content"] = {}
    return redacted


def with_redacted_because(redacted: Mapping[str, Any], redaction_event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a redacted event with `unsigned.redacted_because` set to the redaction event,
    for serving to clients (the spec asks servers to include it)."""
    unsigned = redacted.get("unsigned")
    merged = dict(unsigned) if isinstance(unsigned, Mapping) else {}
    merged["redacted_because"] = dict(redaction_event)
    return {**redacted, "unsigned": merged}
