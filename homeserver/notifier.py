"""Wakes whoever waits for new data once it is committed (sync long-polls, WebSockets,
pushers, the federation sender).

In-process for now: one `asyncio.Event` per generation, replaced on every notification, so a
waiter costs one future and a wake-up costs one `set()`. Listeners registered with
`add_listener` are called synchronously after each commit, in commit order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from homeserver.events.model import Event

EventListener = Callable[[Event, int], None]


class Notifier:
    def __init__(self) -> None:
        self._generation = asyncio.Event()
        self._listeners: list[EventListener] = []
        self.room_stream_position = 0
        self.account_data_stream_position = 0

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def on_new_event(self, event: Event, stream_position: int, *, persisted_up_to: int | None = None) -> None:
        """`event` committed at `stream_position`. Readers may step up to `persisted_up_to`,
        below which nothing is still in flight (an event of another room may hold a lower
        position and commit later); without it, up to the event's own position."""
        visible = stream_position if persisted_up_to is None else persisted_up_to
        self.room_stream_position = max(self.room_stream_position, visible)
        for listener in self._listeners:
            listener(event, stream_position)
        self._wake()

    def on_account_data(self, user_id: str, stream_position: int) -> None:
        """A user's account data changed (committed up to `stream_position`)."""
        self.account_data_stream_position = max(self.account_data_stream_position, stream_position)
        self._wake()

    def _wake(self) -> None:
        current, self._generation = self._generation, asyncio.Event()
        current.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for the next notification; False on timeout."""
        generation = self._generation
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await generation.wait()
                return True
        return False
