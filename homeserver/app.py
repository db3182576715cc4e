"""The composition root: builds the web application from the core and its edges.

This is the one module of `homeserver/` that imports `clientapi/`, `federation/` and
`webclient/`; the rest of the core never does."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from clientapi.app import setup_client_api
from federation.app import setup_federation
from homeserver import appkeys as K
from homeserver import periodic
from homeserver.account_data import AccountData
from homeserver.accounts import Accounts
from homeserver.auth.passwords import PasswordHasher
from homeserver.auth.tokens import TokenIssuer, load_or_create_secret
from homeserver.config import Config
from homeserver.cross_signing import CrossSigning
from homeserver.crypto.keys import load_server_keys
from homeserver.device_lists import DeviceLists
from homeserver.directory import Directory
from homeserver.e2e_keys import E2eKeys
from homeserver.key_backup import KeyBackups
from homeserver.media.service import make_media_service
from homeserver.mutual_rooms import MutualRooms
from homeserver.notifier import Notifier, Stream
from homeserver.presence import Presence
from homeserver.profiles import Profiles
from homeserver.push.retention import SWEEP_INTERVAL_S as PUSH_SWEEP_INTERVAL_S
from homeserver.push.service import PushRules
from homeserver.push.wiring import wire_notifications
from homeserver.ratelimit import RateLimiter
from homeserver.receipts import Receipts
from homeserver.reports import Reports
from homeserver.room_list import RoomList
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.rooms.context import EventContext
from homeserver.rooms.create import RoomCreator
from homeserver.rooms.hierarchy import SpaceHierarchy
from homeserver.rooms.membership import Memberships
from homeserver.rooms.relation_pages import RelationPages
from homeserver.rooms.relations import Aggregator
from homeserver.rooms.room_summary import RoomSummaries
from homeserver.rooms.send import EventPipeline
from homeserver.rooms.timeline import Timeline
from homeserver.rooms.timestamp import TimestampLookup
from homeserver.rooms.upgrade import RoomUpgrader
from homeserver.rooms.upgrade_members import MemberSettings
from homeserver.rooms.visibility import Visibility
from homeserver.search import RoomSearch
from homeserver.short_tokens import LOGIN_TOKEN_LIFETIME_MS, OPENID_LIFETIME_MS, ShortLivedTokens
from homeserver.signature_upload import SignatureUpload
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.cross_signing import CrossSigningStore
from homeserver.storage.database import Database, create_database
from homeserver.storage.device_lists import DeviceListStore
from homeserver.storage.devices import DeviceStore
from homeserver.storage.directory import DirectoryStore
from homeserver.storage.e2e_keys import E2eKeyStore
from homeserver.storage.events import EventStore
from homeserver.storage.hierarchy import HierarchyStore
from homeserver.storage.key_backup import KeyBackupStore
from homeserver.storage.migrate import migrate
from homeserver.storage.mutual_rooms import MutualRoomStore
from homeserver.storage.presence import PresenceStore
from homeserver.storage.receipts import ReceiptStore
from homeserver.storage.registration_tokens import RegistrationTokenStore
from homeserver.storage.relations import RelationStore
from homeserver.storage.reports import ReportStore
from homeserver.storage.room_upgrades import RoomUpgradeStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.search import SearchStore
from homeserver.storage.short_tokens import ShortTokenStore
from homeserver.storage.streams import Counter, StreamIdGenerator
from homeserver.storage.sync import FilterStore, SyncStore
from homeserver.storage.timestamps import TimestampStore
from homeserver.storage.to_device import ToDeviceStore
from homeserver.storage.uia import UiaStore
from homeserver.storage.users import ProfileStore, UserStore
from homeserver.sync.handler import SyncHandler
from homeserver.sync.recent import RecentEvents
from homeserver.sync.rooms import RoomSections
from homeserver.sync.sources import SyncSources
from homeserver.to_device import ToDevice
from homeserver.typing import Typing
from homeserver.uia import UserInteractiveAuth
from homeserver.user_directory import UserDirectory
from webclient.views import setup_webclient

IDLE_SWEEP_INTERVAL_S = 60.0
MEDIA_SWEEP_INTERVAL_S = 600.0


async def open_database(config: Config) -> Database:
    """Connect and migrate; raises on an unreachable database."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    db = create_database(config.sqlalchemy_url, schema=config.database_schema)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


async def wire_core(app: web.Application, config: Config, db: Database) -> None:
    """Create the stores and services over an open database and hang them on the app."""
    app[K.DATABASE] = db
    app[K.USERS] = users = UserStore(db)
    app[K.DEVICES] = devices = DeviceStore(db)
    app[K.REGISTRATION_TOKENS] = registration_tokens = RegistrationTokenStore(db)
    app[K.PASSWORDS] = passwords = PasswordHasher(config.password_hashing)
    app[K.TOKENS] = tokens = TokenIssuer(load_or_create_secret(config.jwt_secret, config.data_path), devices)
    app[K.RATE_LIMITER] = limiter = RateLimiter(config.rate_limits)
    app[K.UIA] = UserInteractiveAuth(
        UiaStore(db), users, passwords, registration_tokens, limiter, config.server_name
    )
    app[K.ACCOUNTS] = Accounts(config, users, devices, passwords, tokens)
    app[K.OPENID_TOKENS] = ShortLivedTokens(ShortTokenStore(db, "openid"), "mo_", OPENID_LIFETIME_MS)
    app[K.LOGIN_TOKENS] = ShortLivedTokens(ShortTokenStore(db, "login"), "ml_", LOGIN_TOKEN_LIFETIME_MS)
    await wire_rooms(app, config, db)
    wire_directory(app, config, db)
    wire_relations(app, db)
    await wire_receipts_typing(app, db)
    await wire_presence_devices(app, db)
    await wire_push(app, config, db)
    wire_e2e(app, db)
    wire_sync(app, db)
    wire_upgrades(app, config, db)
    app[K.MEDIA] = make_media_service(config, db, limiter)


async def wire_receipts_typing(app: web.Application, db: Database) -> None:
    """Receipts, read markers and typing notifications."""
    notifier, rooms = app[K.NOTIFIER], app[K.ROOMS]
    receipt_store = ReceiptStore(db)
    receipt_streams = StreamIdGenerator(await receipt_store.max_stream_id())
    notifier.start(Stream.RECEIPTS, receipt_streams.current)
    app[K.RECEIPTS] = Receipts(receipt_store, rooms, app[K.ACCOUNT_DATA], notifier, receipt_streams)
    app[K.TYPING] = typing = Typing(rooms, notifier)
    notifier.add_listener(typing.on_event)


async def wire_presence_devices(app: web.Application, db: Database) -> None:
    """Presence, send-to-device messages and device-list changes."""
    notifier, rooms, server_name = app[K.NOTIFIER], app[K.ROOMS], app[K.ACCOUNTS].server_name
    presence_store = PresenceStore(db)
    presence_streams = StreamIdGenerator(await presence_store.max_stream_id())
    notifier.start(Stream.PRESENCE, presence_streams.current)
    app[K.PRESENCE] = Presence(presence_store, rooms, app[K.USERS], notifier, presence_streams, server_name)
    to_device_store = ToDeviceStore(db)
    to_device_streams = StreamIdGenerator(await to_device_store.max_stream_id())
    notifier.start(Stream.TO_DEVICE, to_device_streams.current)
    app[K.TO_DEVICE] = ToDevice(to_device_store, notifier, to_device_streams, server_name)
    device_list_store = DeviceListStore(db)
    device_list_streams = StreamIdGenerator(await device_list_store.max_stream_id())
    notifier.start(Stream.DEVICE_LISTS, device_list_streams.current)
    app[K.DEVICE_LISTS] = device_lists = DeviceLists(device_list_store, rooms, notifier, device_list_streams)
    app[K.ACCOUNTS].on_devices_changed(device_lists.changed)


def wire_e2e(app: web.Application, db: Database) -> None:
    """End-to-end encryption: device, one-time and fallback keys, cross-signing, key backups."""
    key_store, cross_store, device_lists = E2eKeyStore(db), CrossSigningStore(db), app[K.DEVICE_LISTS]
    app[K.CROSS_SIGNING] = cross = CrossSigning(cross_store, app[K.DEVICES], device_lists)
    app[K.SIGNATURE_UPLOAD] = SignatureUpload(cross_store, key_store, device_lists)
    app[K.E2E_KEYS] = E2eKeys(key_store, device_lists, cross, app[K.ACCOUNTS].server_name)
    app[K.KEY_BACKUPS] = KeyBackups(KeyBackupStore(db))


async def wire_push(app: web.Application, config: Config, db: Database) -> None:
    """Push rules, kept as each user's m.push_rules account data; notifications."""
    app[K.PUSH_RULES] = PushRules(AccountDataStore(db), app[K.ACCOUNT_DATA])
    await wire_notifications(app, config, db)


def wire_sync(app: web.Application, db: Database) -> None:
    app[K.FILTERS] = FilterStore(db)
    events, rooms, store = app[K.EVENTS], app[K.ROOMS], SyncStore(db)
    recent = RecentEvents()
    sections = RoomSections(
        events, store, Visibility(events, rooms), app[K.AGGREGATOR], recent, app[K.NOTIFIER]
    )
    sources = SyncSources(
        typing=app[K.TYPING],
        receipts=app[K.RECEIPTS],
        presence=app[K.PRESENCE],
        to_device=app[K.TO_DEVICE],
        device_lists=app[K.DEVICE_LISTS],
        push_rules=app[K.PUSH_RULES],
        unread=app[K.UNREAD_COUNTS],
        key_counts=app[K.E2E_KEYS],
    )
    app[K.SYNC] = SyncHandler(
        store, AccountDataStore(db), app[K.NOTIFIER], sections, app[K.ACCOUNT_DATA], sources
    )


async def wire_rooms(app: web.Application, config: Config, db: Database) -> None:
    app[K.SERVER_KEYS] = keys = load_server_keys(config.data_path)
    app[K.PROFILES] = profiles = ProfileStore(db)
    app[K.EVENTS] = events = EventStore(db)
    app[K.ROOMS] = rooms = RoomStore(db)
    app[K.NOTIFIER] = notifier = Notifier()
    streams = StreamIdGenerator(await events.max_stream_ordering())
    notifier.start(Stream.ROOMS, streams.current)
    app[K.PIPELINE] = pipeline = EventPipeline(
        events,
        rooms,
        notifier,
        config.server_name,
        keys.signing_key,
        streams,
        Counter(await events.max_state_group()),
        RelationStore(db),
    )
    app[K.MEMBERSHIPS] = memberships = Memberships(pipeline, events, rooms, profiles, config.server_name)
    app[K.ROOM_CREATOR] = RoomCreator(
        pipeline, memberships, rooms, config.server_name, KNOWN_ROOM_VERSIONS[config.default_room_version]
    )
    account_data_store = AccountDataStore(db)
    account_data_streams = StreamIdGenerator(await account_data_store.max_stream_id())
    notifier.start(Stream.ACCOUNT_DATA, account_data_streams.current)
    app[K.ACCOUNT_DATA] = account_data = AccountData(
        account_data_store, rooms, notifier, account_data_streams
    )
    visibility = Visibility(events, rooms)
    app[K.TIMELINE] = timeline = Timeline(events, rooms, visibility, ignored=account_data)
    app[K.SEARCH] = RoomSearch(SearchStore(db), events, rooms, visibility, timeline, account_data)
    app[K.EVENT_CONTEXT] = EventContext(timeline, events)
    app[K.TIMESTAMP_LOOKUP] = TimestampLookup(TimestampStore(db), events, rooms, visibility)
    app[K.REPORTS] = Reports(
        ReportStore(db), timeline, events, rooms, app[K.USERS], app[K.RATE_LIMITER], config.server_name
    )


def wire_upgrades(app: web.Application, config: Config, db: Database) -> None:
    """Room upgrades (after push rules: members' rules for the old room are copied)."""
    store = RoomUpgradeStore(db)
    settings = MemberSettings(store, app[K.ACCOUNT_DATA], app[K.PUSH_RULES], config.server_name)
    app[K.ROOM_UPGRADER] = RoomUpgrader(
        app[K.PIPELINE], app[K.EVENTS], app[K.ROOMS], app[K.MEMBERSHIPS], store, settings, config.server_name
    )


def wire_relations(app: web.Application, db: Database) -> None:
    events, rooms = app[K.EVENTS], app[K.ROOMS]
    store, visibility = RelationStore(db), Visibility(events, rooms)
    ignored = app[K.ACCOUNT_DATA]
    app[K.AGGREGATOR] = Aggregator(store, events, visibility, ignored)
    app[K.RELATION_PAGES] = RelationPages(store, events, rooms, app[K.TIMELINE], visibility, ignored)


def wire_directory(app: web.Application, config: Config, db: Database) -> None:
    """Aliases, the published room directory, profiles and the user directory."""
    store = DirectoryStore(db)
    rooms, events, pipeline = app[K.ROOMS], app[K.EVENTS], app[K.PIPELINE]
    app[K.DIRECTORY] = Directory(rooms, events, store, app[K.USERS], pipeline, config.server_name)
    app[K.ROOM_LIST] = RoomList(store)
    hierarchy = HierarchyStore(db)
    app[K.SPACE_HIERARCHY] = SpaceHierarchy(hierarchy)
    app[K.ROOM_SUMMARIES] = RoomSummaries(hierarchy)
    app[K.MUTUAL_ROOMS] = MutualRooms(MutualRoomStore(db))
    app[K.PROFILE_SERVICE] = Profiles(app[K.PROFILES], rooms, events, pipeline, config.server_name)
    app[K.USER_DIRECTORY] = UserDirectory(store)


def make_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=config.max_request_body_bytes)
    app[K.CONFIG] = config

    async def core(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(config)
        await wire_core(app, config, db)
        async with periodic.running(
            {
                "presence idleness": (IDLE_SWEEP_INTERVAL_S, app[K.PRESENCE].sweep),
                "expired media uploads": (MEDIA_SWEEP_INTERVAL_S, app[K.MEDIA].sweep),
                "old notifications": (PUSH_SWEEP_INTERVAL_S, app[K.PUSH_RETENTION].sweep),
            }
        ):
            yield
        app[K.MEDIA].close()
        await app[K.PUSH_DELIVERY].close()
        await db.close()

    app.cleanup_ctx.append(core)
    app.router.add_get("/health", health)
    setup_client_api(app)
    setup_federation(app)
    if config.serve_web_client:
        setup_webclient(app)
    app.on_shutdown.append(_end_waits)  # after the WebSockets are closed
    return app


async def _end_waits(app: web.Application) -> None:
    app[K.NOTIFIER].close()


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")
