"""Wiring of notifications (called by app.py): push rule evaluation in the event pipeline,
unread counts, GET /notifications, pushers and their delivery."""

from __future__ import annotations

from aiohttp import web

from homeserver import appkeys as K
from homeserver.config import Config
from homeserver.push.delivery import PushDelivery
from homeserver.push.notifications import Notifications
from homeserver.push.planner import PushPlanner
from homeserver.push.pushers import Pushers
from homeserver.push.retention import PushRetention
from homeserver.push.room_state import RoomPushStates
from homeserver.push.unread import UnreadCounts
from homeserver.storage.database import Database
from homeserver.storage.push import PushActionStore
from homeserver.storage.pushers import PusherStore


async def wire_notifications(app: web.Application, config: Config, db: Database) -> None:
    notifier, events = app[K.NOTIFIER], app[K.EVENTS]
    states = RoomPushStates(app[K.ROOMS], events, config.server_name)
    notifier.add_listener(states.on_event)
    planner = PushPlanner(states, app[K.PUSH_RULES], app[K.ACCOUNT_DATA], notifier)
    app[K.PIPELINE].push = planner
    actions = PushActionStore(db)
    app[K.UNREAD_COUNTS] = unread = UnreadCounts(actions, notifier)
    planner.add_listener(unread.on_committed)
    app[K.NOTIFICATIONS] = Notifications(actions, events)
    app[K.PUSH_RETENTION] = PushRetention(actions, config.push_actions_retention_days)
    allow_local = config.push_allow_local_gateways
    pusher_store = PusherStore(db)
    app[K.PUSHERS] = pushers = Pushers(pusher_store, allow_local=allow_local)
    app[K.ACCOUNTS].on_devices_changed(pushers.on_devices_changed)
    app[K.PUSH_DELIVERY] = delivery = PushDelivery(pusher_store, unread, allow_local=allow_local)
    await delivery.start()
    pushers.on_change(delivery.on_pushers_changed)
    planner.add_listener(delivery.on_committed)
