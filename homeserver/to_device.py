"""Send-to-device messaging (spec: "Send-to-Device messaging"): messages from one device to
others, kept per recipient device until that device has synced past them.

Every limit here bounds what one request may make the server store: at most MAX_MESSAGES
messages named in the body and at most MAX_MESSAGES deliveries once "*" is expanded to every
device, each content at most MAX_CONTENT_BYTES."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from homeserver.clock import now_ms
from homeserver.errors import InvalidParam, TooLarge
from homeserver.ids import DeviceID, UserID, is_valid_user_id, user_id_server
from homeserver.notifier import Notifier, Stream
from homeserver.storage.streams import StreamIdGenerator
from homeserver.storage.to_device import Delivery, ToDeviceStore, TxnKey

ALL_DEVICES = "*"
MAX_MESSAGES = 10_000
MAX_CONTENT_BYTES = 64 * 1024
DEFAULT_SYNC_LIMIT = 100  # the spec's recommendation per /sync response

# user ID -> device ID (or "*") -> the content, encoded
Messages = dict[UserID, dict[str, str]]


class ToDevice:
    def __init__(
        self, store: ToDeviceStore, notifier: Notifier, streams: StreamIdGenerator, server_name: str
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._streams = streams
        self._server_name = server_name

    @property
    def position(self) -> int:
        """The to-device stream position below which every message is committed."""
        return self._streams.current

    async def send(
        self, sender: UserID, sender_device: DeviceID, event_type: str, txn_id: str, messages: object
    ) -> None:
        """PUT /sendToDevice: check the whole body, then store one message per recipient
        device in one transaction. A repeated transaction ID of the same device stores nothing.
        Unknown users and devices are dropped without an error, as the spec's servers do."""
        parsed = parse_messages(messages)
        txn = TxnKey(sender, sender_device, txn_id)
        if await self._store.txn_seen(txn):
            return
        # Local recipients only: users of other servers are skipped until federation carries
        # them (spec, Server-Server API: the m.direct_to_device EDU).
        local = [user for user in parsed if user_id_server(user) == self._server_name]
        deliveries = _expand(parsed, await self._store.devices_of(local))
        if len(deliveries) > MAX_MESSAGES:
            raise TooLarge(f"At most {MAX_MESSAGES} devices may be sent to at once")
        with self._streams.allocate_many(len(deliveries)) as stream_ids:
            stored = await self._store.deliver(txn, now_ms(), sender, event_type, deliveries, stream_ids)
        if stored and deliveries:
            self._notifier.notify(
                Stream.TO_DEVICE,
                stream_ids[-1],
                visible=self._streams.current,
                users=sorted({d.user_id for d in deliveries}),
            )

    async def for_sync(
        self, user_id: UserID, device_id: str, since: int, until: int, limit: int = DEFAULT_SYNC_LIMIT
    ) -> tuple[list[dict[str, Any]], int]:
        """The device's messages numbered in (since, until], oldest first, at most `limit`,
        and the position they run to: the last one's if there are more, else `until`. Syncing
        from `since` acknowledges everything up to it, so those messages are deleted first."""
        limit = max(limit, 1)
        if since > 0:
            await self._store.acknowledge(user_id, device_id, since)
        rows = await self._store.pending(user_id, device_id, since, until, limit + 1)
        position = until
        if len(rows) > limit:
            rows = rows[:limit]
            position = rows[-1].stream_id
        events = [{"sender": r.sender, "type": r.type, "content": orjson.loads(r.content)} for r in rows]
        return events, position


def parse_messages(raw: object) -> Messages:
    """The `messages` object checked: user IDs as keys, an object of device IDs to content
    objects under each; contents encoded once here."""
    if not isinstance(raw, dict):
        raise InvalidParam("'messages' must be an object")
    parsed: Messages = {}
    count = 0
    for user_id, by_device in raw.items():
        if not is_valid_user_id(user_id, historical=True):
            raise InvalidParam(f"{user_id[:300]!r} in 'messages' is not a user ID")
        if not isinstance(by_device, dict):
            raise InvalidParam(f"The messages for {user_id} must be an object of device IDs")
        count += len(by_device)
        if count > MAX_MESSAGES:
            raise TooLarge(f"At most {MAX_MESSAGES} messages may be sent at once")
        parsed[UserID(user_id)] = {device: _encode(content) for device, content in by_device.items()}
    return parsed


def _encode(content: object) -> str:
    if not isinstance(content, dict):
        raise InvalidParam("Each message must be an object")
    encoded = orjson.dumps(content)
    if len(encoded) > MAX_CONTENT_BYTES:
        raise TooLarge(f"A message may be at most {MAX_CONTENT_BYTES} bytes")
    return encoded.decode()


def _expand(messages: Messages, known: Mapping[str, Sequence[str]]) -> list[Delivery]:
    """One delivery per existing recipient device; "*" covers the user's devices not named
    on their own (a device gets one message per transaction, as the spec says)."""
    deliveries: list[Delivery] = []
    for user_id, by_device in messages.items():
        devices = known.get(user_id, ())
        everyone = by_device.get(ALL_DEVICES)
        for device_id in devices:
            content = by_device.get(device_id, everyone)
            if content is not None:
                deliveries.append(Delivery(user_id, device_id, content))
    return deliveries
