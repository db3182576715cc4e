"""matrix-nio's own sync loop (`sync_forever` with callbacks) carries a two-user conversation in
real time: the invite, the join, a plain and a formatted message, a reaction, an edit, a
redaction, typing starting and stopping, read receipts through /receipt and /read_markers; then
/messages back-pagination reaches the room's creation event. Everything one user does, the other
sees only through what nio's sync loop delivered to its callbacks (nio parses every response; a
malformed one would arrive as a SyncError, which fails the wait)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    InviteMemberEvent,
    JoinResponse,
    LoginResponse,
    MatrixRoom,
    ReactionEvent,
    ReceiptEvent,
    RedactedEvent,
    RedactionEvent,
    RegisterResponse,
    RoomCreateEvent,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    RoomPreset,
    RoomReadMarkersResponse,
    RoomRedactResponse,
    RoomSendResponse,
    RoomTypingResponse,
    SyncError,
    SyncResponse,
    TypingNoticeEvent,
    UpdateReceiptMarkerResponse,
)
from nio.api import MessageDirection, ReceiptType

from tests.helpers import DEFAULT_PASSWORD, HomeserverUnderTest

WAIT_SECONDS = 20.0
LONG_POLL_MS = 10_000
HTML = "org.matrix.custom.html"

Seen = tuple[str, Any]  # (room ID, a parsed nio event: timeline, invite state or ephemeral)


class Watcher:
    """One logged-in nio client running its own `sync_forever`; records what the loop delivers
    to its callbacks and awaits conditions on it."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.seen: list[Seen] = []
        self.sync_errors: list[SyncError] = []
        self._changed = asyncio.Event()
        client.add_event_callback(self._on_event, None)
        client.add_ephemeral_callback(self._on_event, None)
        client.add_response_callback(self._on_response, (SyncResponse, SyncError))
        self.task: asyncio.Task[None] | None = None

    async def _on_event(self, room: MatrixRoom, event: Any) -> None:
        self.seen.append((room.room_id, event))
        self._changed.set()

    async def _on_response(self, response: SyncResponse | SyncError) -> None:
        if isinstance(response, SyncError):
            self.sync_errors.append(response)
        self._changed.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self.client.sync_forever(timeout=LONG_POLL_MS))
        self.task.add_done_callback(lambda _: self._changed.set())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def wait_for(self, what: str, match: Callable[[str, Any], bool], after: int = 0) -> tuple[int, Any]:
        """The first (index, event) at or after `after` that `match`es, as soon as nio's sync
        loop has delivered it; fails the test after WAIT_SECONDS or if the loop errs or stops."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while True:
                    for index in range(after, len(self.seen)):
                        room_id, event = self.seen[index]
                        if match(room_id, event):
                            return index, event
                    assert not self.sync_errors, (
                        f"{self.client.user_id}'s nio sync failed: {self.sync_errors}"
                    )
                    assert self.task is not None
                    if self.task.done():
                        pytest.fail(f"{self.client.user_id}'s sync loop stopped: {self.task.exception()!r}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            recent = [f"{type(e).__name__} in {r}" for r, e in self.seen[after:]][-15:]
            pytest.fail(f"{self.client.user_id} did not see {what} within {WAIT_SECONDS} s; saw {recent}")

    def timeline_ids(self, room_id: str) -> list[str]:
        return [e.event_id for r, e in self.seen if r == room_id and isinstance(e, Event)]


@pytest.fixture
async def watchers() -> AsyncIterator[list[Watcher]]:
    made: list[Watcher] = []
    yield made
    for watcher in made:
        await watcher.stop()
        await watcher.client.close()


def nio_client(hs: HomeserverUnderTest, user: str = "") -> AsyncClient:
    # max_limit_exceeded=0 and max_timeouts=0: fail at once instead of nio's retry loops.
    config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, store_sync_tokens=False)
    client = AsyncClient(hs.base_url, user, config=config)
    client.client_session = aiohttp.ClientSession()
    return client


async def signed_up(hs: HomeserverUnderTest, made: list[Watcher], name: str) -> Watcher:
    """Register with one nio client, then log in with another, which starts its sync loop."""
    registrar = nio_client(hs)
    try:
        registered = await registrar.register(name, DEFAULT_PASSWORD, device_name=f"{name}'s phone")
        assert isinstance(registered, RegisterResponse), registered
    finally:
        await registrar.close()
    watcher = Watcher(nio_client(hs, name))
    made.append(watcher)
    login = await watcher.client.login(DEFAULT_PASSWORD, device_name=f"{name}'s laptop")
    assert isinstance(login, LoginResponse), login
    assert login.user_id == registered.user_id and login.device_id != registered.device_id
    watcher.start()
    return watcher


async def sent(client: AsyncClient, room_id: str, event_type: str, content: dict[str, Any]) -> str:
    response = await client.room_send(room_id, event_type, content)
    assert isinstance(response, RoomSendResponse), response
    event_id: str = response.event_id
    return event_id


async def test_nio_sync_loop_carries_a_live_conversation(
    hs: HomeserverUnderTest, watchers: list[Watcher]
) -> None:
    alice = await signed_up(hs, watchers, "alice")
    bob = await signed_up(hs, watchers, "bob")
    a, b = alice.client, bob.client

    created = await a.room_create(name="Live", preset=RoomPreset.private_chat)
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    invited = await a.room_invite(room_id, b.user_id)
    assert isinstance(invited, RoomInviteResponse), invited

    # The invite reaches bob's sync loop as stripped state of an invited room.
    await bob.wait_for(
        "his invite",
        lambda r, e: (
            r == room_id
            and isinstance(e, InviteMemberEvent)
            and e.state_key == b.user_id
            and e.membership == "invite"
        ),
    )
    assert b.invited_rooms[room_id].name == "Live"
    joined = await b.join(room_id)
    assert isinstance(joined, JoinResponse) and joined.room_id == room_id
    await alice.wait_for(
        "bob's join",
        lambda r, e: (
            r == room_id
            and isinstance(e, RoomMemberEvent)
            and e.state_key == b.user_id
            and e.membership == "join"
        ),
    )
    assert b.user_id in a.rooms[room_id].users

    # A plain message, alice to bob.
    plain = await sent(a, room_id, "m.room.message", {"msgtype": "m.text", "body": "hello bob"})
    _, seen = await bob.wait_for(
        "alice's message", lambda r, e: r == room_id and getattr(e, "event_id", None) == plain
    )
    assert isinstance(seen, RoomMessageText), seen
    assert (seen.sender, seen.body, seen.format, seen.formatted_body) == (a.user_id, "hello bob", None, None)

    # A formatted message, bob to alice.
    html = "<b>hi</b> <i>alice</i>"
    formatted = await sent(
        b,
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": "hi alice", "format": HTML, "formatted_body": html},
    )
    _, seen = await alice.wait_for(
        "bob's formatted message", lambda r, e: r == room_id and getattr(e, "event_id", None) == formatted
    )
    assert isinstance(seen, RoomMessageText), seen
    assert (seen.sender, seen.body, seen.format, seen.formatted_body) == (b.user_id, "hi alice", HTML, html)

    # alice reacts to it; bob sees the annotation.
    reaction = await sent(
        a,
        room_id,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": formatted, "key": "👍"}},
    )
    _, seen = await bob.wait_for(
        "alice's reaction", lambda r, e: r == room_id and getattr(e, "event_id", None) == reaction
    )
    assert isinstance(seen, ReactionEvent), seen
    assert (seen.sender, seen.reacts_to, seen.key) == (a.user_id, formatted, "👍")

    # alice edits her first message; bob sees the replacement and its new content.
    edit = await sent(
        a,
        room_id,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* hello bob!",
            "m.new_content": {"msgtype": "m.text", "body": "hello bob!"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": plain},
        },
    )
    _, seen = await bob.wait_for(
        "alice's edit", lambda r, e: r == room_id and getattr(e, "event_id", None) == edit
    )
    assert isinstance(seen, RoomMessageText), seen
    assert seen.body == "* hello bob!"
    assert seen.source["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": plain}
    assert seen.source["content"]["m.new_content"] == {"msgtype": "m.text", "body": "hello bob!"}

    # alice takes her reaction back; bob sees the redaction.
    redacted = await a.room_redact(room_id, reaction, reason="wrong emoji")
    assert isinstance(redacted, RoomRedactResponse), redacted
    _, seen = await bob.wait_for(
        "the redaction of alice's reaction",
        lambda r, e: r == room_id and getattr(e, "event_id", None) == redacted.event_id,
    )
    assert isinstance(seen, RedactionEvent), seen
    assert (seen.sender, seen.redacts, seen.reason) == (a.user_id, reaction, "wrong emoji")

    # bob starts typing, then stops; alice's loop delivers both m.typing updates, in order.
    typing = await b.room_typing(room_id, True, timeout=30_000)
    assert isinstance(typing, RoomTypingResponse), typing
    started, _ = await alice.wait_for(
        "bob typing",
        lambda r, e: r == room_id and isinstance(e, TypingNoticeEvent) and e.users == [b.user_id],
    )
    assert a.rooms[room_id].typing_users == [b.user_id]
    typing = await b.room_typing(room_id, False)
    assert isinstance(typing, RoomTypingResponse), typing
    await alice.wait_for(
        "bob stop typing",
        lambda r, e: r == room_id and isinstance(e, TypingNoticeEvent) and e.users == [],
        after=started + 1,
    )
    assert a.rooms[room_id].typing_users == []

    # alice reads up to the edit (POST /receipt/m.read, nio sends thread_id "main").
    marked = await a.update_receipt_marker(room_id, edit, ReceiptType.read)
    assert isinstance(marked, UpdateReceiptMarkerResponse), marked
    _, seen = await bob.wait_for(
        "alice's read receipt",
        lambda r, e: (
            r == room_id
            and isinstance(e, ReceiptEvent)
            and any(x.user_id == a.user_id and x.event_id == edit for x in e.receipts)
        ),
    )
    (receipt,) = [x for x in seen.receipts if x.user_id == a.user_id]
    assert (receipt.receipt_type, receipt.thread_id) == ("m.read", "main")
    assert receipt.timestamp > 0
    assert b.rooms[room_id].threaded_read_receipts[a.user_id]["main"].event_id == edit

    # bob reads up to the redaction through /read_markers (an unthreaded public receipt).
    markers = await b.room_read_markers(
        room_id, fully_read_event=redacted.event_id, read_event=redacted.event_id
    )
    assert isinstance(markers, RoomReadMarkersResponse), markers
    _, seen = await alice.wait_for(
        "bob's read receipt",
        lambda r, e: (
            r == room_id
            and isinstance(e, ReceiptEvent)
            and any(x.user_id == b.user_id and x.event_id == redacted.event_id for x in e.receipts)
        ),
    )
    (receipt,) = [x for x in seen.receipts if x.user_id == b.user_id]
    assert (receipt.receipt_type, receipt.thread_id) == ("m.read", None)
    assert a.rooms[room_id].read_receipts[b.user_id].event_id == redacted.event_id

    # bob pages backwards from his sync position, three events at a time, to the room's creation.
    newest_first: list[Any] = []
    token = b.next_batch
    for _ in range(50):
        page = await b.room_messages(room_id, start=token, direction=MessageDirection.back, limit=3)
        assert isinstance(page, RoomMessagesResponse), page
        assert len(page.chunk) <= 3
        newest_first += page.chunk
        if not page.end or not page.chunk:
            break
        token = page.end
    else:
        pytest.fail("back-pagination did not end within 50 pages")
    history = list(reversed(newest_first))
    ids = [e.event_id for e in history]
    assert len(set(ids)) == len(ids), ids
    assert isinstance(history[0], RoomCreateEvent), history[0]
    assert history[0].sender == a.user_id
    by_id = {e.event_id: e for e in history}
    assert isinstance(by_id[plain], RoomMessageText) and by_id[plain].body == "hello bob"
    assert isinstance(by_id[formatted], RoomMessageText) and by_id[formatted].formatted_body == html
    assert isinstance(by_id[reaction], RedactedEvent), by_id[reaction]
    assert by_id[reaction].redacter == a.user_id and by_id[reaction].reason == "wrong emoji"
    assert isinstance(by_id[redacted.event_id], RedactionEvent)
    assert ids[-5:] == [plain, formatted, reaction, edit, redacted.event_id]
    # What bob's sync loop delivered for the room is the tail of that history, with no gap.
    live = bob.timeline_ids(room_id)
    assert live and ids[-len(live) :] == live
