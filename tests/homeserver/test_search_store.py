"""The full-text index on SQLite (FTS5) and PostgreSQL (tsvector): written with the event by
the one writer, pruned with a redaction, and safe against any search term."""

from __future__ import annotations

import random
from typing import Any

import orjson
from alembic.script import ScriptDirectory
from sqlalchemy import insert

from homeserver.events.model import Event
from homeserver.fulltext import parse_query
from homeserver.ids import EventID, RoomID, UserID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.database import Database
from homeserver.storage.events import EventStore, EventToPersist
from homeserver.storage.migrate import MIGRATIONS, downgrade, migrate
from homeserver.storage.search import ALL_KEYS, BODY, NAME, SearchScope, SearchStore, search_entry
from homeserver.storage.tables import events as events_table

ROOM = RoomID("!room:example.org")
OTHER_ROOM = RoomID("!other:example.org")
ALICE = UserID("@alice:example.org")
BOB = UserID("@bob:example.org")
V10 = KNOWN_ROOM_VERSIONS["10"]


class Writer:
    """Persists made-up events through EventStore.persist, one stream position each."""

    def __init__(self, db: Database) -> None:
        self.store = EventStore(db)
        self.position = 0

    async def send(
        self,
        content: dict[str, Any],
        *,
        type: str = "m.room.message",
        room: RoomID = ROOM,
        sender: UserID = ALICE,
        state_key: str | None = None,
        prune: Event | None = None,
        rejected: bool = False,
    ) -> Event:
        self.position += 1
        pdu: dict[str, Any] = {
            "type": type,
            "room_id": room,
            "sender": sender,
            "content": content,
            "depth": self.position,
            "origin_server_ts": 1_700_000_000_000 + self.position,
            "prev_events": [],
            "auth_events": [],
        }
        if state_key is not None:
            pdu["state_key"] = state_key
        event = Event(EventID(f"$event{self.position}"), V10, pdu, "auth" if rejected else None)
        pruned = None
        if prune is not None:
            pruned = (prune.event_id, {**prune.pdu, "content": {}})
        await self.store.persist(
            EventToPersist(event=event, stream_ordering=self.position, state_group=None, prune=pruned)
        )
        return event


async def ids(
    search: SearchStore,
    term: str,
    *,
    rooms: tuple[RoomID, ...] = (ROOM,),
    order: Any = "recent",
    **scope: Any,
) -> list[str]:
    hits = await search.search(parse_query(term), SearchScope(list(rooms), **scope), order, None, 100)
    return [h.event_id for h in hits]


async def test_an_event_is_indexed_with_it_and_found_by_its_words(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    hello = await w.send({"body": "Hello, Wonderful World!"})
    await w.send({"body": "something else"})
    name = await w.send({"name": "The wonderful room"}, type="m.room.name", state_key="")
    topic = await w.send({"topic": "wonders"}, type="m.room.topic", state_key="")

    assert await ids(search, "wonderful") == [name.event_id, hello.event_id]
    assert await ids(search, "WORLD hello") == [hello.event_id]
    assert await ids(search, "wonders") == [topic.event_id]
    assert await ids(search, "wonder") == []  # whole words: no stemming, no prefixes
    assert await ids(search, "wonderful", keys=[NAME]) == [name.event_id]
    assert await ids(search, "wonderful", keys=[BODY]) == [hello.event_id]
    assert await search.count(parse_query("wonderful"), SearchScope([ROOM])) == 2


async def test_query_syntax_phrases_or_and_exclusions(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    a = await w.send({"body": "red apple pie"})
    b = await w.send({"body": "apple red wine"})
    c = await w.send({"body": "green pear"})
    assert await ids(search, '"red apple"') == [a.event_id]
    assert await ids(search, "red apple") == [b.event_id, a.event_id]
    assert await ids(search, "pear or pie") == [c.event_id, a.event_id]
    assert await ids(search, "apple -wine") == [a.event_id]
    assert await ids(search, 'red -"apple pie"') == [b.event_id]
    assert await ids(search, "-apple") == []  # nothing to search for


async def test_unicode_text_is_case_folded_and_normalised(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    german = await w.send({"body": "Die STRASSE ist lang"})
    accents = await w.send({"body": "Un café, s’il vous plaît"})
    japanese = await w.send({"body": "東京タワー に 行きました"})
    hindi = await w.send({"body": "यह किताब अच्छी है"})
    assert await ids(search, "straße") == [german.event_id]
    assert await ids(search, "CAFÉ") == [accents.event_id]
    assert await ids(search, "cafe\u0301") == [accents.event_id]  # decomposed form
    assert await ids(search, "東京タワー") == [japanese.event_id]
    assert await ids(search, "किताब") == [hindi.event_id]


async def test_rank_puts_the_closer_match_first(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    for i in range(6):
        await w.send({"body": f"unrelated chatter number {i}"})
    strong = await w.send({"body": "kiwi kiwi kiwi"})
    weak = await w.send({"body": "one kiwi among many other words in a rather long sentence"})
    assert await ids(search, "kiwi", order="recent") == [weak.event_id, strong.event_id]
    ranked = await search.search(parse_query("kiwi"), SearchScope([ROOM]), "rank", None, 10)
    assert [h.event_id for h in ranked] == [strong.event_id, weak.event_id]
    assert ranked[0].rank > ranked[1].rank > 0


async def test_cursor_continues_in_both_orders(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    sent = [await w.send({"body": "plum " * (1 + i % 3) + "x" * i}) for i in range(7)]
    query, scope = parse_query("plum"), SearchScope([ROOM])
    for order in ("recent", "rank"):
        everything = await search.search(query, scope, order, None, 100)
        pages: list[str] = []
        after = None
        while True:
            page = await search.search(query, scope, order, after, 3)
            pages += [h.event_id for h in page]
            if len(page) < 3:
                break
            after = page[-1].cursor
        assert pages == [h.event_id for h in everything], order
        assert sorted(pages) == sorted(e.event_id for e in sent)


async def test_scope_limits_rooms_and_senders(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    mine = await w.send({"body": "melon"}, sender=ALICE)
    bobs = await w.send({"body": "melon"}, sender=BOB)
    elsewhere = await w.send({"body": "melon"}, room=OTHER_ROOM)
    assert await ids(search, "melon") == [bobs.event_id, mine.event_id]
    assert await ids(search, "melon", rooms=(OTHER_ROOM,)) == [elsewhere.event_id]
    assert await ids(search, "melon", rooms=()) == []
    assert await ids(search, "melon", senders=[BOB]) == [bobs.event_id]
    assert await ids(search, "melon", not_senders=[BOB]) == [mine.event_id]
    assert await ids(search, "melon", keys=[]) == []


async def test_a_redaction_removes_the_event_from_the_index(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    secret = await w.send({"body": "the password is swordfish"})
    kept = await w.send({"body": "swordfish are fast"})
    await w.send({"redacts": secret.event_id}, type="m.room.redaction", prune=secret)
    assert await ids(search, "swordfish") == [kept.event_id]
    assert await search.count(parse_query("password"), SearchScope([ROOM])) == 0
    assert await search.indexed([1, 2, 3]) == {2}


async def test_what_is_not_indexed(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    await w.send({"body": "guava"}, rejected=True)
    await w.send({"body": ["guava"]})
    await w.send({"body": "guava"}, type="m.room.message", state_key="")  # a message is not state
    await w.send({"name": "guava"}, type="m.room.name")  # a name is state
    await w.send({"body": "guava"}, type="m.sticker")
    await w.send({"ciphertext": "guava"}, type="m.room.encrypted")
    await w.send({"body": "!!! ..."})  # no word at all
    assert await ids(search, "guava") == []
    assert await search.indexed(list(range(1, 8))) == set()


def test_the_entry_of_a_topic_includes_its_plain_text_representations() -> None:
    content = {
        "topic": "Plain topic",
        "m.topic": {
            "m.text": [
                {"mimetype": "text/html", "body": "<b>html</b>"},
                {"body": "Plain topic, richer"},
            ]
        },
    }
    assert search_entry("m.room.topic", True, content) == ("content.topic", "plain topic plain topic richer")
    assert search_entry("m.room.topic", True, {"m.topic": "x"}) is None
    assert ALL_KEYS == ("content.body", "content.name", "content.topic")


HOSTILE = [
    '"',
    '""',
    '"""',
    "AND OR NOT (",
    "NOT",
    "a NOT",
    "OR",
    "or or or",
    "( ) ) (",
    "\x00",
    "a\x00b",
    "*",
    "a*",
    "^a",
    "NEAR(a b)",
    "col:value",
    "value:*",
    "{a b}: c",
    "'",
    "''",
    "\\",
    "a\\'b",
    "!!",
    "a & b | c",
    "a <-> b",
    "a:*",
    "-",
    "--",
    "- -a",
    '-"',
    "\ud7ff\ue000\U0001f600",
    "x" * 5000,
    "word " * 64,
    "\u200b\u2028\u2029\ufeff",
    "\t\n\r\x0b\x0c",
]


async def test_hostile_terms_never_break_the_query(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    await w.send({"body": "a b value word x NOT or and"})
    for term in HOSTILE:
        query = parse_query(term)
        for order in ("recent", "rank"):
            await search.search(query, SearchScope([ROOM]), order, None, 10)
        await search.count(query, SearchScope([ROOM]))
    assert await ids(search, '"value') == ["$event1"]  # an unclosed quote runs to the end
    assert await ids(search, "a NOT") == ["$event1"]  # NOT is a word here, like any other


async def test_random_terms_never_break_the_query(database: Database) -> None:
    w, search = Writer(database), SearchStore(database)
    await w.send({"body": "some text to match against"})
    rng = random.Random(1234)
    alphabet = " \"'-()*:^{}!&|<>\\\x00aAoOrRnNtT\u00e9\u0301\u6771\U0001f600\t"
    for _ in range(200):
        term = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            query = parse_query(term)
        except Exception as e:  # only the "too many words" refusal is allowed
            raise AssertionError(f"{term!r}: {e!r}") from e
        await search.search(query, SearchScope([ROOM]), rng.choice(["rank", "recent"]), None, 5)


async def test_the_migration_indexes_events_stored_before_it(database: Database) -> None:
    """Downgrade past the search revision, store events the old way, upgrade: they are found."""
    await downgrade(database, _revision_before_search())
    rows = [
        (1, "m.room.message", None, {"body": "stored earlier"}),
        (2, "m.room.name", "", {"name": "index room"}),
        (3, "m.room.message", None, {"body": "redacted index"}),
    ]
    async with database.transaction() as conn:
        for stream, etype, state_key, content in rows:
            pdu = {"type": etype, "content": content}
            if state_key is not None:
                pdu["state_key"] = state_key
            await conn.execute(
                insert(events_table).values(
                    stream_ordering=stream,
                    event_id=f"$old{stream}",
                    room_id=ROOM,
                    type=etype,
                    state_key=state_key,
                    sender=ALICE,
                    depth=stream,
                    origin_server_ts=stream,
                    json=orjson.dumps(pdu).decode(),
                    outlier=False,
                    redacted_by="$r" if stream == 3 else None,
                )
            )
    await migrate(database)
    assert await ids(SearchStore(database), "index") == ["$old2"]
    assert await ids(SearchStore(database), "earlier") == ["$old1"]


def _revision_before_search() -> str:
    for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions():
        if script.path.endswith("_search.py"):
            assert isinstance(script.down_revision, str)
            return script.down_revision
    raise AssertionError("no search migration")
