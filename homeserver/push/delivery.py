"""Delivery of notifications to push gateways (spec: Push Gateway API,
POST /_matrix/push/v1/notify).

After an event commits with push actions for users who have pushers, each such user gets a
worker task that sends their notifications in order: one request per notification and
gateway URL, carrying every pusher of the user at that gateway (batching). A gateway that
fails (network error, 5xx, 429) is tried again after 1, 2, 4, ... backoff steps up to
`max_attempts`; one that answers 4xx is not. Pushkeys the gateway names in `rejected` lose
their pusher. Gateways on private or loopback addresses are refused (their host names are
checked when connecting) unless the config allows them."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult

from homeserver.events.model import Event
from homeserver.ids import UserID
from homeserver.push.pushers import is_local_host
from homeserver.push.unread import UnreadCounts
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import Outcome
from homeserver.storage.pushers import Pusher, PusherStore

log = logging.getLogger(__name__)

MAX_QUEUED_PER_USER: Final = 1_000  # past it the oldest notifications are dropped
MAX_CONTENT_BYTES: Final = 4_096  # larger event content is left out of the notification
REQUEST_TIMEOUT_S: Final = 30.0
MAX_RESPONSE_BYTES: Final = 64 * 1024  # a gateway's answer is a short list of pushkeys


@dataclass(frozen=True)
class _Pending:
    event: Event
    user_id: UserID
    outcome: Outcome


class PublicResolver(AbstractResolver):
    """Resolves host names to public addresses only (no SSRF into the server's network)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if ipaddress.ip_address(r["host"]).is_global]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class PushDelivery:
    def __init__(self, store: PusherStore, unread: UnreadCounts, *, allow_local: bool) -> None:
        self._store = store
        self._unread = unread
        self._allow_local = allow_local
        self._users: set[UserID] = set()
        # The last big member tuple seen, as a set (see _with_pushers).
        self._member_set: tuple[tuple[UserID, ...], frozenset[UserID]] = ((), frozenset())
        self._queues: dict[UserID, deque[_Pending]] = {}
        self._workers: dict[UserID, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self.backoff_s = 1.0  # first retry delay; doubles per attempt
        self.max_backoff_s = 300.0
        self.max_attempts = 8

    async def start(self) -> None:
        self._users = await self._store.users_with_pushers()

    def _http(self) -> aiohttp.ClientSession:
        """The session, made on first use (a command-line run of the core never needs one)."""
        if self._session is None:
            resolver = None if self._allow_local else PublicResolver()
            connector = aiohttp.TCPConnector(resolver=resolver, limit=100)
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        self._closing = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def on_pushers_changed(self, user_id: UserID) -> None:
        self._users.add(user_id)  # dropped again when the worker finds none

    def on_committed(self, items: Sequence[EventToPersist]) -> None:
        """Push planner listener: queue the notifications of users with pushers."""
        if not self._users or self._closing:
            return
        for item in items:
            plan = item.push
            if plan is None:
                continue
            if plan.common is not None:
                for user_id in self._with_pushers(plan.members):
                    self._queue(user_id, _Pending(item.event, user_id, plan.common))
            for own in plan.own:
                if own.outcome is not None and own.user_id in self._users:
                    self._queue(own.user_id, _Pending(item.event, own.user_id, own.outcome))

    def _with_pushers(self, members: tuple[UserID, ...]) -> list[UserID]:
        """Those of `members` with pushers, walking the smaller side: a big room's members
        (a tuple the planner reuses from event to event, so its set is kept) against the
        few users with pushers."""
        if len(self._users) >= len(members):
            return [u for u in members if u in self._users]
        if self._member_set[0] is not members:
            self._member_set = (members, frozenset(members))
        member_set = self._member_set[1]
        return [u for u in self._users if u in member_set]

    def _queue(self, user_id: UserID, pending: _Pending) -> None:
        queue = self._queues.setdefault(user_id, deque(maxlen=MAX_QUEUED_PER_USER))
        queue.append(pending)
        if user_id not in self._workers:
            self._workers[user_id] = asyncio.create_task(self._work(user_id))

    async def _work(self, user_id: UserID) -> None:
        queue = self._queues[user_id]
        try:
            while queue:
                batch = [queue.popleft() for _ in range(len(queue))]
                pushers = [p for p in await self._store.for_user(user_id) if p.kind == "http"]
                if not pushers:
                    self._users.discard(user_id)
                    queue.clear()
                    break
                for pending in batch:
                    await self._deliver(user_id, pending, pushers)
        except Exception:
            log.exception("push delivery for %s failed", user_id)
        finally:
            del self._workers[user_id]
            if queue and user_id in self._users and not self._closing:
                self._workers[user_id] = asyncio.create_task(self._work(user_id))
            else:
                del self._queues[user_id]

    async def _deliver(self, user_id: UserID, pending: _Pending, pushers: list[Pusher]) -> None:
        unread = await self._unread.total(user_id)
        by_gateway: dict[tuple[str, bool], list[Pusher]] = {}
        for pusher in pushers:
            url = pusher.data.get("url")
            if isinstance(url, str):
                event_id_only = pusher.data.get("format") == "event_id_only"
                by_gateway.setdefault((url, event_id_only), []).append(pusher)
        for (url, event_id_only), group in by_gateway.items():
            body = notification_body(pending, group, unread, event_id_only=event_id_only)
            rejected = await self._post(url, body)
            for pusher in group:
                if pusher.pushkey in rejected:
                    log.info("push gateway rejected a pushkey of %s: pusher removed", user_id)
                    await self._store.delete_rejected(pusher.app_id, pusher.pushkey)
                    pushers.remove(pusher)

    async def _post(self, url: str, body: dict[str, Any]) -> set[str]:
        """POST to the gateway, retrying with backoff; the pushkeys it rejected."""
        session = self._http()
        host = urlsplit(url).hostname or ""
        if not self._allow_local and is_local_host(host):
            log.warning("push gateway on a private address refused")
            return set()
        data = orjson.dumps(body)
        delay = self.backoff_s
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with session.post(
                    url, data=data, headers={"Content-Type": "application/json"}, allow_redirects=False
                ) as response:
                    if response.status == 200:
                        return _rejected(await _read_limited(response))
                    if 400 <= response.status < 500 and response.status != 429:
                        log.warning("push gateway answered %s: notification dropped", response.status)
                        return set()
                    problem = f"status {response.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                problem = type(e).__name__
            if attempt < self.max_attempts:
                log.info("push gateway failed (%s); retry %d in %.1f s", problem, attempt, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        log.warning("push gateway failed %d times: notification dropped", self.max_attempts)
        return set()


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    """The answer's body, or nothing if it is larger than any sane answer."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            return b""
    return bytes(body)


def _rejected(raw: bytes) -> set[str]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return set()
    rejected = body.get("rejected") if isinstance(body, dict) else None
    return {r for r in rejected if isinstance(r, str)} if isinstance(rejected, list) else set()


def tweaks_of(actions: list[Any]) -> dict[str, Any]:
    """The set_tweak actions as the gateway's `tweaks` (highlight without a value is true)."""
    tweaks: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, dict) and isinstance(action.get("set_tweak"), str):
            tweaks[action["set_tweak"]] = action.get("value", True)
    return tweaks


def notification_body(
    pending: _Pending, pushers: list[Pusher], unread: int, *, event_id_only: bool
) -> dict[str, Any]:
    """The gateway request (push_notifier.yaml): the event (only its ID and room with the
    `event_id_only` format), the badge count and the devices to notify."""
    event = pending.event
    actions = orjson.loads(pending.outcome.actions)
    tweaks = tweaks_of(actions if isinstance(actions, list) else [])
    devices = [
        {
            "app_id": p.app_id,
            "pushkey": p.pushkey,
            "pushkey_ts": p.pushkey_ts // 1000,
            "data": {k: v for k, v in p.data.items() if k != "url"},
            "tweaks": tweaks,
        }
        for p in pushers
    ]
    notification: dict[str, Any] = {
        "event_id": event.event_id,
        "room_id": event.room_id,
        "counts": {"unread": unread},
        "devices": devices,
        "prio": "high" if tweaks.get("highlight") or "sound" in tweaks else "low",
    }
    if not event_id_only:
        notification["type"] = event.type
        notification["sender"] = event.sender
        if event.state_key is not None and event.type == "m.room.member":
            notification["user_is_target"] = event.state_key == pending.user_id
        if len(orjson.dumps(event.content)) <= MAX_CONTENT_BYTES:
            notification["content"] = event.content
    return {"notification": notification}
