"""Every `web.AppKey` in one place: the only way components find each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from homeserver.account_data import AccountData
    from homeserver.accounts import Accounts
    from homeserver.auth.passwords import PasswordHasher
    from homeserver.auth.tokens import TokenIssuer
    from homeserver.config import Config
    from homeserver.crypto.keys import ServerKeys
    from homeserver.device_lists import DeviceLists
    from homeserver.directory import Directory
    from homeserver.e2e_keys import E2eKeys
    from homeserver.notifier import Notifier
    from homeserver.presence import Presence
    from homeserver.profiles import Profiles
    from homeserver.push.service import PushRules
    from homeserver.ratelimit import RateLimiter
    from homeserver.receipts import Receipts
    from homeserver.reports import Reports
    from homeserver.room_list import RoomList
    from homeserver.rooms.context import EventContext
    from homeserver.rooms.create import RoomCreator
    from homeserver.rooms.membership import Memberships
    from homeserver.rooms.relation_pages import RelationPages
    from homeserver.rooms.relations import Aggregator
    from homeserver.rooms.send import EventPipeline
    from homeserver.rooms.timeline import Timeline
    from homeserver.rooms.timestamp import TimestampLookup
    from homeserver.search import RoomSearch
    from homeserver.storage.database import Database
    from homeserver.storage.devices import DeviceStore
    from homeserver.storage.events import EventStore
    from homeserver.storage.registration_tokens import RegistrationTokenStore
    from homeserver.storage.rooms import RoomStore
    from homeserver.storage.sync import FilterStore
    from homeserver.storage.users import ProfileStore, UserStore
    from homeserver.sync.handler import SyncHandler
    from homeserver.to_device import ToDevice
    from homeserver.typing import Typing
    from homeserver.uia import UserInteractiveAuth
    from homeserver.user_directory import UserDirectory

CONFIG: web.AppKey[Config] = web.AppKey("config")
DATABASE: web.AppKey[Database] = web.AppKey("database")
USERS: web.AppKey[UserStore] = web.AppKey("users")
DEVICES: web.AppKey[DeviceStore] = web.AppKey("devices")
REGISTRATION_TOKENS: web.AppKey[RegistrationTokenStore] = web.AppKey("registration_tokens")
PASSWORDS: web.AppKey[PasswordHasher] = web.AppKey("passwords")
TOKENS: web.AppKey[TokenIssuer] = web.AppKey("tokens")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
UIA: web.AppKey[UserInteractiveAuth] = web.AppKey("uia")
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("accounts")
SERVER_KEYS: web.AppKey[ServerKeys] = web.AppKey("server_keys")
PROFILES: web.AppKey[ProfileStore] = web.AppKey("profiles")
EVENTS: web.AppKey[EventStore] = web.AppKey("events")
ROOMS: web.AppKey[RoomStore] = web.AppKey("rooms")
NOTIFIER: web.AppKey[Notifier] = web.AppKey("notifier")
PIPELINE: web.AppKey[EventPipeline] = web.AppKey("pipeline")
MEMBERSHIPS: web.AppKey[Memberships] = web.AppKey("memberships")
ROOM_CREATOR: web.AppKey[RoomCreator] = web.AppKey("room_creator")
TIMELINE: web.AppKey[Timeline] = web.AppKey("timeline")
ACCOUNT_DATA: web.AppKey[AccountData] = web.AppKey("account_data")
EVENT_CONTEXT: web.AppKey[EventContext] = web.AppKey("event_context")
TIMESTAMP_LOOKUP: web.AppKey[TimestampLookup] = web.AppKey("timestamp_lookup")
REPORTS: web.AppKey[Reports] = web.AppKey("reports")
AGGREGATOR: web.AppKey[Aggregator] = web.AppKey("aggregator")
RELATION_PAGES: web.AppKey[RelationPages] = web.AppKey("relation_pages")
DIRECTORY: web.AppKey[Directory] = web.AppKey("directory")
ROOM_LIST: web.AppKey[RoomList] = web.AppKey("room_list")
PROFILE_SERVICE: web.AppKey[Profiles] = web.AppKey("profile_service")
USER_DIRECTORY: web.AppKey[UserDirectory] = web.AppKey("user_directory")
SEARCH: web.AppKey[RoomSearch] = web.AppKey("search")
SYNC: web.AppKey[SyncHandler] = web.AppKey("sync")
FILTERS: web.AppKey[FilterStore] = web.AppKey("filters")
RECEIPTS: web.AppKey[Receipts] = web.AppKey("receipts")
TYPING: web.AppKey[Typing] = web.AppKey("typing")
PRESENCE: web.AppKey[Presence] = web.AppKey("presence")
TO_DEVICE: web.AppKey[ToDevice] = web.AppKey("to_device")
DEVICE_LISTS: web.AppKey[DeviceLists] = web.AppKey("device_lists")
PUSH_RULES: web.AppKey[PushRules] = web.AppKey("push_rules")
E2E_KEYS: web.AppKey[E2eKeys] = web.AppKey("e2e_keys")
