"""Pieces of push delivery: the gateway request's shape from a pusher and a push action,
tweaks, the gateway's `rejected` answer read defensively, and the resolver that refuses to
connect to private addresses."""

from __future__ import annotations

import orjson
import pytest

from homeserver.events.model import Event
from homeserver.ids import EventID, UserID
from homeserver.push.delivery import PublicResolver, _Pending, _rejected, notification_body, tweaks_of
from homeserver.push.pushers import is_local_host
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.push import Outcome
from homeserver.storage.pushers import Pusher

BOB = UserID("@bob:example.org")
PUSHER = Pusher(
    BOB,
    "app",
    "key",
    "http",
    "App",
    "Phone",
    None,
    "en",
    {"url": "https://g/x", "format": "event_id_only"},
    "D",
    5_000,
)


def _pending(event_type: str = "m.room.message", **content: object) -> _Pending:
    pdu = {
        "type": event_type,
        "sender": "@alice:example.org",
        "room_id": "!r:example.org",
        "content": content,
    }
    if event_type == "m.room.member":
        pdu["state_key"] = BOB
    actions = orjson.dumps(["notify", {"set_tweak": "sound", "value": "default"}]).decode()
    return _Pending(Event(EventID("$e"), KNOWN_ROOM_VERSIONS["11"], pdu), BOB, Outcome(False, actions))


def test_event_id_only_notification() -> None:
    body = notification_body(_pending(body="hi"), [PUSHER], 3, event_id_only=True)
    assert body == {
        "notification": {
            "event_id": "$e",
            "room_id": "!r:example.org",
            "counts": {"unread": 3},
            "prio": "high",
            "devices": [
                {
                    "app_id": "app",
                    "pushkey": "key",
                    "pushkey_ts": 5,
                    "data": {"format": "event_id_only"},
                    "tweaks": {"sound": "default"},
                }
            ],
        }
    }


def test_full_notification_and_huge_content_left_out() -> None:
    note = notification_body(_pending("m.room.member", membership="invite"), [PUSHER], 0, event_id_only=False)
    assert note["notification"]["user_is_target"] is True
    assert note["notification"]["content"] == {"membership": "invite"}
    big = notification_body(_pending(body="x" * 10_000), [PUSHER], 0, event_id_only=False)
    assert "content" not in big["notification"] and big["notification"]["sender"] == "@alice:example.org"


@pytest.mark.parametrize(
    ("actions", "tweaks"),
    [
        (["notify"], {}),
        (["notify", {"set_tweak": "highlight"}], {"highlight": True}),
        (
            ["notify", {"set_tweak": "highlight", "value": False}, {"set_tweak": "sound", "value": "x"}],
            {"highlight": False, "sound": "x"},
        ),
        (["notify", {"set_tweak": 5}, "coalesce"], {}),
    ],
)
def test_tweaks(actions: list[object], tweaks: dict[str, object]) -> None:
    assert tweaks_of(actions) == tweaks


@pytest.mark.parametrize(
    ("raw", "rejected"),
    [
        (b'{"rejected": ["a", "b"]}', {"a", "b"}),
        (b'{"rejected": ["a", 5, null]}', {"a"}),
        (b'{"rejected": "a"}', set()),
        (b"[]", set()),
        (b"not json", set()),
        (b"", set()),
    ],
)
def test_rejected_is_read_defensively(raw: bytes, rejected: set[str]) -> None:
    assert _rejected(raw) == rejected


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("a.localhost", True),
        ("127.0.0.1", True),
        ("10.0.0.8", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("[::1]", True),
        ("fd00::1", True),
        ("0.0.0.0", True),
        ("8.8.8.8", False),
        ("push.example.org", False),
    ],
)
def test_local_hosts(host: str, local: bool) -> None:
    assert is_local_host(host) is local


async def test_the_resolver_refuses_private_addresses() -> None:
    resolver = PublicResolver()
    try:
        with pytest.raises(OSError):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()
