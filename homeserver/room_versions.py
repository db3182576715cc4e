"""Room versions as data: one frozen `RoomVersion` per version, each built from the previous
by naming only what changes. Code asks a version for a rule (`version.knock_join_rule`),
never compares identifiers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class EventFormat(Enum):
    V1 = 1  # event_id inside the event; prev/auth events as [id, {hashes}] pairs
    V2 = 2  # event ID = reference hash, standard unpadded base64 (room v3)
    V3 = 3  # event ID = reference hash, URL-safe unpadded base64 (room v4+)


class StateResAlgorithm(Enum):
    V1 = 1
    V2 = 2
    V2_1 = 3  # room v12: empty-state start + conflicted state subgraph


class RoomDisposition(Enum):
    STABLE = "stable"
    UNSTABLE = "unstable"


@dataclass(frozen=True)
class RoomVersion:
    identifier: str
    disposition: RoomDisposition
    event_format: EventFormat
    state_res: StateResAlgorithm
    # v5: a signing key must be valid (valid_until_ts) at origin_server_ts
    enforce_key_validity: bool
    # v1-5: m.room.aliases events have special auth (state_key == sender's domain)
    special_case_aliases_auth: bool
    # v1-2: the auth rules check m.room.redaction (redact level or same event_id domain)
    special_case_redaction_auth: bool
    # v6: integers out of range and floats refused in events
    strict_canonicaljson: bool
    # v6: `notifications` power levels honoured by the auth rules
    limit_notifications_power_levels: bool
    # v7: knock membership and join rule
    knock_join_rule: bool
    # v8: restricted join rule with `allow` conditions
    restricted_join_rule: bool
    # v9: redaction keeps join_authorised_via_users_server (v8's was a spec bug)
    restricted_join_rule_fix: bool
    # v10: knock_restricted join rule
    knock_restricted_join_rule: bool
    # v10: power levels must be integers (no strings)
    integer_power_levels: bool
    # v11: MSC2176 / MSC3821 / MSC3989 redaction changes, `redacts` moves into content
    updated_redaction_rules: bool
    # v11: create event has no `creator`; the sender is the creator
    implicit_room_creator: bool
    # v12: creators (sender + additional_creators) have infinite power
    creator_has_infinite_power: bool
    # v12: room ID = "!" + create event's reference hash; create event has no room_id
    room_id_is_create_event_hash: bool
    # v12: m.room.create is not listed in auth_events (implied by room_id)
    create_event_not_in_auth_events: bool

    @property
    def event_ids_are_hashes(self) -> bool:
        return self.event_format is not EventFormat.V1


V1 = RoomVersion(
    identifier="1",
    disposition=RoomDisposition.STABLE,
    event_format=EventFormat.V1,
    state_res=StateResAlgorithm.V1,
    enforce_key_validity=False,
    special_case_aliases_auth=True,
    special_case_redaction_auth=True,
    strict_canonicaljson=False,
    limit_notifications_power_levels=False,
    knock_join_rule=False,
    restricted_join_rule=False,
    restricted_join_rule_fix=False,
    knock_restricted_join_rule=False,
    integer_power_levels=False,
    updated_redaction_rules=False,
    implicit_room_creator=False,
    creator_has_infinite_power=False,
    room_id_is_create_event_hash=False,
    create_event_not_in_auth_events=False,
)
V2 = replace(V1, identifier="2", state_res=StateResAlgorithm.V2)
V3 = replace(V2, identifier="3", event_format=EventFormat.V2, special_case_redaction_auth=False)
V4 = replace(V3, identifier="4", event_format=EventFormat.V3)
V5 = replace(V4, identifier="5", enforce_key_validity=True)
V6 = replace(
    V5,
    identifier="6",
    special_case_aliases_auth=False,
    strict_canonicaljson=True,
    limit_notifications_power_levels=True,
)
V7 = replace(V6, identifier="7", knock_join_rule=True)
V8 = replace(V7, identifier="8", restricted_join_rule=True)
V9 = replace(V8, identifier="9", restricted_join_rule_fix=True)
V10 = replace(V9, identifier="10", knock_restricted_join_rule=True, integer_power_levels=True)
V11 = replace(V10, identifier="11", updated_redaction_rules=True, implicit_room_creator=True)
V12 = replace(
    V11,
    identifier="12",
    state_res=StateResAlgorithm.V2_1,
    creator_has_infinite_power=True,
    room_id_is_create_event_hash=True,
    create_event_not_in_auth_events=True,
)

KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {
    v.identifier: v for v in (V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12)
}
DEFAULT_ROOM_VERSION = V12
# Versions new rooms may be created in (older ones are for joining existing rooms only).
CREATABLE_VERSIONS = frozenset(str(v) for v in range(6, 13))
