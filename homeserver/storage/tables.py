"""Every table, as SQLAlchemy Core `Table` objects. Migrations create them; stores query them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

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
