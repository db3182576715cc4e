"""The common requests leave (almost) no reference cycles behind. Cyclic garbage is freed
only by the collector, and what survives its young generations is freed in a full
collection that stops the server for as long as it takes (bench/RESULTS.md, session 8: one
such pause of 150-200 ms made the WebSocket benchmark's whole p99). The usual source is a
SQLAlchemy alias, CTE or upsert built per query: build those once."""

from __future__ import annotations

import gc
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable

from tests.helpers import HomeserverUnderTest

ROUNDS = 10
# Per request, on average: a few objects are allowed (an `IN (...)` list's bind parameter is
# one small cycle); an alias built per query is ~80, a recursive CTE ~100.
MOST_PER_REQUEST = 40


async def cyclic_garbage(action: Callable[[], Awaitable[None]]) -> tuple[float, Counter[str]]:
    """Objects in reference cycles `action` leaves behind, per call (after a warm-up)."""
    for _ in range(3):
        await action()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(ROUNDS):
            await action()
        gc.collect()
    finally:
        gc.set_debug(0)
    kinds = Counter(type(o).__qualname__ for o in gc.garbage)
    found = len(gc.garbage)
    gc.garbage.clear()
    return found / ROUNDS, kinds


async def test_common_requests_leave_no_cyclic_garbage(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    token = (await bob.get("/sync"))["next_batch"]
    txn = itertools.count()
    last = {"event": ""}

    async def send() -> None:
        body = {"msgtype": "m.text", "body": "hi"}
        sent = await alice.put(f"/rooms/{room}/send/m.room.message/t{next(txn)}", body)
        last["event"] = sent["event_id"]

    async def send_and_sync() -> None:
        nonlocal token
        await send()
        token = (await bob.get("/sync", params={"since": token}))["next_batch"]

    async def receipt() -> None:
        await send()
        await bob.post(f"/rooms/{room}/receipt/m.read/{last['event']}", {})

    async def presence() -> None:
        await alice.put(
            f"/presence/{alice.user_id}/status", {"presence": "online", "status_msg": str(next(txn))}
        )

    actions: dict[str, Callable[[], Awaitable[None]]] = {
        "send and incremental sync": send_and_sync,
        "initial sync": lambda: bob.get("/sync"),
        "messages": lambda: bob.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "20"}),
        "receipt": receipt,
        "presence": presence,
        "typing": lambda: alice.put(
            f"/rooms/{room}/typing/{alice.user_id}", {"typing": True, "timeout": 3000}
        ),
    }
    for name, action in actions.items():
        per_request, kinds = await cyclic_garbage(action)
        assert per_request <= MOST_PER_REQUEST, (name, per_request, kinds.most_common(8))
