"""Every table, as SQLAlchemy Core `Table` objects. Migrations create them; stores query them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()

ID = String(255)  # Matrix IDs are at most 255 bytes

users = Table(
    "users",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("password_hash", Text, nullable=True),
    Column("created_ts", BigInteger, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("is_guest", Boolean, nullable=False, default=False),
    Column("deactivated", Boolean, nullable=False, default=False),
)

profiles = Table(
    "profiles",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("displayname", Text, nullable=True),
    Column("avatar_url", Text, nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("display_name", Text, nullable=True),
    Column("created_ts", BigInteger, nullable=False),
    Column("last_seen_ts", BigInteger, nullable=True),
    Column("last_seen_ip", Text, nullable=True),
    Column("last_seen_user_agent", Text, nullable=True),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("expires_ts", BigInteger, nullable=True),
    # The refresh token this access token came from, until it is first used (which revokes it).
    Column("refresh_parent", String(64), nullable=True),
    Index("access_tokens_device", "user_id", "device_id"),
)

# Opaque refresh tokens, stored only as their SHA-256.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("parent_hash", String(64), nullable=True),  # the refresh token it replaces
    Index("refresh_tokens_device", "user_id", "device_id"),
)

uia_sessions = Table(
    "uia_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("created_ts", BigInteger, nullable=False),
    Column("method", String(16), nullable=False),
    Column("uri", Text, nullable=False),
    Column("user_id", ID, nullable=True),
    Column("completed", Text, nullable=False, default="[]"),  # JSON list of stage types
    Column("registration_token", String(64), nullable=True),
    Index("uia_sessions_created", "created_ts"),
)

registration_tokens = Table(
    "registration_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("uses_allowed", Integer, nullable=True),
    Column("completed", Integer, nullable=False, default=0),
    Column("expiry_ts", BigInteger, nullable=True),
    Column("created_ts", BigInteger, nullable=False),
)

# OpenID tokens and login tokens (homeserver/short_tokens.py): only their SHA-256 is kept.
short_lived_tokens = Table(
    "short_lived_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("expires_ts", BigInteger, nullable=False),
    Index("short_lived_tokens_expiry", "expires_ts"),
    Index("short_lived_tokens_user", "kind", "user_id", "expires_ts"),
)

# Rooms and events

rooms = Table(
    "rooms",
    metadata,
    Column("room_id", ID, primary_key=True),
    Column("room_version", String(32), nullable=False),
    Column("creator", ID, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("is_public", Boolean, nullable=False, default=False),  # listed in the room directory
)

# Every event, stored once as the signed PDU (its redacted form once redacted).
# stream_ordering: the order this server learnt of events (sync); depth: the DAG order (/messages).
events = Table(
    "events",
    metadata,
    Column("stream_ordering", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", ID, nullable=False, unique=True),
    Column("room_id", ID, nullable=False),
    Column("type", Text, nullable=False),
    Column("state_key", Text, nullable=True),
    Column("sender", ID, nullable=False),
    Column("depth", BigInteger, nullable=False),
    Column("origin_server_ts", BigInteger, nullable=False),
    Column("json", Text, nullable=False),
    Column("rejected_reason", Text, nullable=True),
    Column("outlier", Boolean, nullable=False, default=False),
    Column("redacted_by", ID, nullable=True),
    Column("state_group", BigInteger, nullable=True),  # the room's state after this event
    Column("replaces_state", ID, nullable=True),  # the state event this one replaced
    Index("events_room_stream", "room_id", "stream_ordering"),
    Index("events_room_depth", "room_id", "depth", "stream_ordering"),
    Index("events_room_ts", "room_id", "origin_server_ts", "stream_ordering"),  # /timestamp_to_event
)

room_forward_extremities = Table(
    "room_forward_extremities",
    metadata,
    Column("room_id", ID, primary_key=True),
    Column("event_id", ID, primary_key=True),
)

# State as deltas: a group is its prev_group plus its entries (event_id NULL = key removed).
# A group without prev_group is a full snapshot; chains are cut to a snapshot periodically.
state_groups = Table(
    "state_groups",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", ID, nullable=False),
    Column("prev_group", BigInteger, nullable=True),
    Column("chain_length", Integer, nullable=False),
)

state_group_entries = Table(
    "state_group_entries",
    metadata,
    Column("group_id", BigInteger, primary_key=True),
    Column("type", Text, primary_key=True),
    Column("state_key", Text, primary_key=True),
    Column("event_id", ID, nullable=True),
)

current_state = Table(
    "current_state",
    metadata,
    Column("room_id", ID, primary_key=True),
    Column("type", Text, primary_key=True),
    Column("state_key", Text, primary_key=True),
    Column("event_id", ID, nullable=False),
    # Room-level state only (no member rows): the directories' "rooms whose join rule is ...".
    Index(
        "current_state_room_level",
        "type",
        "room_id",
        sqlite_where=text("state_key = ''"),
        postgresql_where=text("state_key = ''"),
    ),
)

# Current membership of every user known in each room: the index behind "my rooms" and
# "the room's members".
room_memberships = Table(
    "room_memberships",
    metadata,
    Column("room_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("membership", String(16), nullable=False),
    Column("event_id", ID, nullable=False),
    Column("stream_ordering", BigInteger, nullable=False),
    Column("forgotten", Boolean, nullable=False, default=False),
    Index("room_memberships_user", "user_id", "membership"),
    Index("room_memberships_room", "room_id", "membership"),
)

# Transaction IDs of client sends: (user, device, endpoint+txn) -> event, for idempotency.
event_txn_ids = Table(
    "event_txn_ids",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("txn_key", String(64), primary_key=True),
    Column("txn_id", Text, nullable=True),
    Column("event_id", ID, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Index("event_txn_ids_event", "event_id"),
)

room_aliases = Table(
    "room_aliases",
    metadata,
    Column("alias", ID, primary_key=True),
    Column("room_id", ID, nullable=False),
    Column("creator", ID, nullable=False),
    Index("room_aliases_room", "room_id"),
)

# Account data: room_id "" for global data. stream_id: the account-data stream position of the
# last change, for sync ("what changed for this user since position N").
account_data = Table(
    "account_data",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("room_id", ID, primary_key=True),
    Column("type", String(255), primary_key=True),
    Column("content", Text, nullable=False),  # a JSON object
    Column("stream_id", BigInteger, nullable=False),
    Index("account_data_user_stream", "user_id", "stream_id"),
)

# Content reports for the server admins: an event (room_id + event_id), a room, or a user.
reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reporter", ID, nullable=False),
    Column("room_id", ID, nullable=True),
    Column("event_id", ID, nullable=True),
    Column("target_user_id", ID, nullable=True),
    Column("reason", Text, nullable=True),
    Column("score", Integer, nullable=True),  # legacy field, dropped from the spec in v1.18
    Column("received_ts", BigInteger, nullable=False),
)

# Relations (spec: "Forming relationships between events"): one row per event with a valid
# content.m.relates_to, written with the event and deleted when the child is redacted.
# depth + stream_ordering are the child's topological position; aggregation_key is set for
# m.annotation only (duplicate annotations are refused on it).
event_relations = Table(
    "event_relations",
    metadata,
    Column("event_id", ID, primary_key=True),
    Column("relates_to_id", ID, nullable=False),
    Column("rel_type", ID, nullable=False),
    Column("room_id", ID, nullable=False),
    Column("sender", ID, nullable=False),
    Column("type", Text, nullable=False),
    Column("depth", BigInteger, nullable=False),
    Column("stream_ordering", BigInteger, nullable=False),
    Column("aggregation_key", Text, nullable=True),
    Index("event_relations_parent", "relates_to_id", "depth", "stream_ordering"),
    Index("event_relations_parent_rel", "relates_to_id", "rel_type", "depth", "stream_ordering"),
    Index("event_relations_parent_sender", "relates_to_id", "sender", "rel_type"),
)

# One row per thread root with its reply count and latest reply (topologically), kept with
# event_relations: the index behind /threads (latest activity first) and the m.thread summary.
event_threads = Table(
    "event_threads",
    metadata,
    Column("thread_id", ID, primary_key=True),  # the root's event ID
    Column("room_id", ID, primary_key=True),  # the replies' room (a root elsewhere is no thread)
    Column("latest_event_id", ID, nullable=False),
    Column("latest_depth", BigInteger, nullable=False),
    Column("latest_stream_ordering", BigInteger, nullable=False),
    Column("reply_count", Integer, nullable=False),
    Index("event_threads_room_latest", "room_id", "latest_depth", "latest_stream_ordering"),
)

# Filters uploaded with POST /user/{userId}/filter, numbered per user.
sync_filters = Table(
    "sync_filters",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("filter_id", BigInteger, primary_key=True, autoincrement=False),
    Column("json", Text, nullable=False),
)

# Read receipts (spec: "Receipts"): the latest receipt of each user, per type and thread.
# thread_id "" is an unthreaded receipt. stream_id: the receipts stream position, for sync.
receipts = Table(
    "receipts",
    metadata,
    Column("room_id", ID, primary_key=True),
    Column("receipt_type", String(64), primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("thread_id", ID, primary_key=True),
    Column("event_id", ID, nullable=False),
    Column("data", Text, nullable=False),  # a JSON object, {"ts": ...}
    Column("stream_id", BigInteger, nullable=False),
    Index("receipts_stream", "stream_id"),
    Index("receipts_room_stream", "room_id", "stream_id"),
)

# Presence (spec: "Presence"): one row per user; stream_id of the last change.
presence = Table(
    "presence",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("status_msg", Text, nullable=True),
    Column("last_active_ts", BigInteger, nullable=False),
    Column("currently_active", Boolean, nullable=False, default=False),
    Column("stream_id", BigInteger, nullable=False),
    Index("presence_stream", "stream_id"),
)

# Send-to-device messages waiting for their device (spec: "Send-to-Device messaging"); a
# row is deleted once the device syncs past its stream_id.
device_inbox = Table(
    "device_inbox",
    metadata,
    Column("stream_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("sender", ID, nullable=False),
    Column("type", String(255), nullable=False),
    Column("content", Text, nullable=False),
    Index("device_inbox_device", "user_id", "device_id", "stream_id"),
)

# Transaction IDs of PUT /sendToDevice, for idempotency.
to_device_txns = Table(
    "to_device_txns",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("txn_id", String(255), primary_key=True),
    Column("created_ts", BigInteger, nullable=False),
)

# A user's devices (or their keys) changed at stream_id: sync's device_lists.changed.
device_list_changes = Table(
    "device_list_changes",
    metadata,
    Column("stream_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", ID, nullable=False),
    Index("device_list_changes_user", "user_id", "stream_id"),
)

# End-to-end encryption keys (spec: "End-to-End Encryption"), deleted with their device.
# key_json: the object as the client uploaded it (device keys: user_id, device_id,
# algorithms, keys, signatures), encoded once.
e2e_device_keys = Table(
    "e2e_device_keys",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("key_json", Text, nullable=False),
)

# One-time keys waiting to be claimed; a claim deletes the row. key_json: the key (a string
# or a signed object) as uploaded under "algorithm:key_id".
e2e_one_time_keys = Table(
    "e2e_one_time_keys",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("algorithm", String(255), primary_key=True),
    Column("key_id", String(255), primary_key=True),
    Column("key_json", Text, nullable=False),
)

# The fallback key of each device per algorithm, handed out when no one-time key is left;
# `used` once claimed (sync reports only unused ones), until the device uploads a new one.
e2e_fallback_keys = Table(
    "e2e_fallback_keys",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("device_id", ID, primary_key=True),
    Column("algorithm", String(255), primary_key=True),
    Column("key_id", String(255), nullable=False),
    Column("key_json", Text, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)

# Notifications (spec: "Push Notifications"). Most local members of a room get the same push
# outcome for an event (on default rules: a plain notification), so it is stored once per event
# in push_events, for every local member joined at the time except the sender; a member whose
# outcome differs (a mention, a muted room, an ignored sender, an invite) has a row of their own
# in push_user_actions (notify false: not notified, although the event's row says otherwise).
# Writing a message costs one row, not one per member. Unread counts are the rows after the
# user's read positions (push_read_positions: per room and thread; thread "" is the unthreaded
# receipt, which also starts at the user's join, `joined_at`, and ends at their leave, `left_at`,
# so GET /notifications lists what reached them while they were in a room they left). thread_id
# is "main" or the thread root's ID; ts is when the row was stored.
push_events = Table(
    "push_events",
    metadata,
    Column("stream_ordering", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", ID, nullable=False),
    Column("room_id", ID, nullable=False),
    Column("sender", ID, nullable=False),
    Column("thread_id", ID, nullable=False),
    Column("highlight", Boolean, nullable=False),
    Column("actions", Text, nullable=False),  # the matching rule's actions, JSON
    Column("ts", BigInteger, nullable=False),
    Index("push_events_room", "room_id", "stream_ordering"),
)

push_user_actions = Table(
    "push_user_actions",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("stream_ordering", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", ID, nullable=False),
    Column("room_id", ID, nullable=False),
    Column("thread_id", ID, nullable=False),
    Column("notify", Boolean, nullable=False),
    Column("highlight", Boolean, nullable=False),
    Column("actions", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Index("push_user_actions_user_notify_room", "user_id", "notify", "room_id", "stream_ordering"),
    Index("push_user_actions_stream", "stream_ordering"),
    Index("push_user_actions_ts", "ts"),
)

push_read_positions = Table(
    "push_read_positions",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("room_id", ID, primary_key=True),
    Column("thread_id", ID, primary_key=True),
    Column("stream_ordering", BigInteger, nullable=False),  # read up to here
    Column("joined_at", BigInteger, nullable=False, server_default="0"),  # thread "": the join
    Column("left_at", BigInteger, nullable=False, server_default="0"),  # thread "": the last leave
)

# Pushers (POST /pushers/set): where a user's notifications are delivered. device_id: the
# device whose access token created the pusher (deleted with it).
pushers = Table(
    "pushers",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("app_id", String(64), primary_key=True),
    Column("pushkey", String(512), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("app_display_name", Text, nullable=False),
    Column("device_display_name", Text, nullable=False),
    Column("profile_tag", Text, nullable=True),
    Column("lang", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Column("device_id", ID, nullable=True),
    Column("pushkey_ts", BigInteger, nullable=False),
    Index("pushers_pushkey", "app_id", "pushkey"),
    Index("pushers_device", "user_id", "device_id"),
)

# Media repository (spec: "Content repository"). One row per local media ID; the bytes live on
# disk under DATA_DIR/media, named by their sha256, so identical uploads are stored once.
# sha256/size/uploaded_ts are NULL while an asynchronous upload (POST /media/v1/create) is
# pending; expires_ts is set only then (the pending ID is dropped after it).
media = Table(
    "media",
    metadata,
    Column("media_id", ID, primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=True),
    Column("upload_name", Text, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("uploaded_ts", BigInteger, nullable=True),
    Column("expires_ts", BigInteger, nullable=True),
    Index("media_user_pending", "user_id", "expires_ts"),
    Index("media_expiry", "expires_ts"),
    Index("media_sha256", "sha256"),
)

# Thumbnails made once per content hash and (size, method, animated), kept on disk beside it.
media_thumbnails = Table(
    "media_thumbnails",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("width", Integer, primary_key=True),
    Column("height", Integer, primary_key=True),
    Column("method", String(16), primary_key=True),
    Column("animated", Boolean, primary_key=True),
    Column("content_type", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)

# Cross-signing and server-side key backups (spec: "Cross-signing", "Server-side key backups").
# A user's cross-signing key of each usage (master, self_signing, user_signing), as uploaded.
e2e_cross_signing_keys = Table(
    "e2e_cross_signing_keys",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("usage", String(16), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("key_json", Text, nullable=False),
)

# Signatures uploaded with /keys/signatures/upload, apart from the keys they sign (a device
# uploading its keys again keeps them): target_key is a device ID or a master public key.
e2e_cross_signing_signatures = Table(
    "e2e_cross_signing_signatures",
    metadata,
    Column("target_user_id", ID, primary_key=True),
    Column("target_key", ID, primary_key=True),
    Column("signer_user_id", ID, primary_key=True),
    Column("signer_key_id", String(255), primary_key=True),
    Column("signature", String(255), nullable=False),
)

# Key backup versions per user; versions are never reused (deleted ones stay, flagged), and
# etag moves whenever the version's keys change.
e2e_room_key_versions = Table(
    "e2e_room_key_versions",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("algorithm", String(255), nullable=False),
    Column("auth_data", Text, nullable=False),
    Column("etag", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
)

# One backed-up megolm session key per (backup version, room, session).
e2e_room_keys = Table(
    "e2e_room_keys",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", ID, primary_key=True),
    Column("session_id", String(255), primary_key=True),
    Column("first_message_index", BigInteger, nullable=False),
    Column("forwarded_count", BigInteger, nullable=False),
    Column("is_verified", Boolean, nullable=False),
    Column("session_data", Text, nullable=False),
)
