"""Reporting content (spec module "Reporting Content"): events, rooms and users, stored for
the server admins. Every report costs the reporter a token of the `report` rate limit, found
or not, so the 404s cannot be used to probe for events cheaply."""

from __future__ import annotations

from homeserver.clock import now_ms
from homeserver.errors import NotFound
from homeserver.ids import EventID, RoomID, UserID, user_id_server
from homeserver.ratelimit import RateLimiter
from homeserver.rooms.timeline import Timeline
from homeserver.storage.events import EventStore
from homeserver.storage.reports import NewReport, ReportStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.users import UserStore


class Reports:
    def __init__(
        self,
        store: ReportStore,
        timeline: Timeline,
        events: EventStore,
        rooms: RoomStore,
        users: UserStore,
        limiter: RateLimiter,
        server_name: str,
    ) -> None:
        self._store = store
        self._timeline = timeline
        self._events = events
        self._rooms = rooms
        self._users = users
        self._limiter = limiter
        self._server_name = server_name

    async def report_event(
        self, reporter: UserID, room_id: RoomID, event_id: EventID, reason: str | None, score: int | None
    ) -> None:
        """Only by a member of the room (spec, v1.8), of an event they may see that is not
        redacted; 404 otherwise, whichever the reason."""
        self._limiter.check("report", reporter)
        not_found = NotFound("Unable to report event: it does not exist or you are not able to see it")
        membership = await self._rooms.membership(room_id, reporter)
        if membership is None or membership.membership != "join":
            raise not_found
        try:
            await self._timeline.event(reporter, room_id, event_id)
        except NotFound:
            raise not_found from None
        meta = (await self._events.get_meta([event_id])).get(event_id)
        if meta is None or meta.redacted_by is not None:
            raise not_found
        await self._store.add(
            NewReport(reporter, now_ms(), reason, room_id=room_id, event_id=event_id, score=score)
        )

    async def report_room(self, reporter: UserID, room_id: RoomID, reason: str) -> None:
        """Any user may report a room they know of, member or not (spec, v1.13)."""
        self._limiter.check("report", reporter)
        if not await self._rooms.exists(room_id):
            raise NotFound("The room was not found")
        await self._store.add(NewReport(reporter, now_ms(), reason, room_id=room_id))

    async def report_user(self, reporter: UserID, target: UserID, reason: str) -> None:
        """Any user may report any user (spec, v1.14); unknown local users are 404."""
        self._limiter.check("report", reporter)
        if user_id_server(target) == self._server_name and not await self._users.exists(target):
            raise NotFound("The user was not found")
        await self._store.add(NewReport(reporter, now_ms(), reason, target_user_id=target))
