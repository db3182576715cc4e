"""Helpers for the event pipeline's tests: waiting on a condition the server reaches, and
holding the first batch's transaction so that later sends queue up behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from homeserver.storage.events import EventStore


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):  # up to 10 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def hold_first_batch(monkeypatch: pytest.MonkeyPatch, store: EventStore) -> tuple[list[int], asyncio.Event]:
    """From now on the store's first transaction waits until the returned event is set, so
    the sends after it queue up meanwhile; the list records each batch's size."""
    original = store.persist_many
    batches: list[int] = []
    gate = asyncio.Event()

    async def persist_many(items: Any) -> None:
        batches.append(len(items))
        if len(batches) == 1:
            await gate.wait()
        await original(items)

    monkeypatch.setattr(store, "persist_many", persist_many)
    return batches, gate
