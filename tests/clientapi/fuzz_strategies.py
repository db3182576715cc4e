"""Hypothesis strategies for fuzzing the client API: hostile JSON and bytes, and near-valid
request bodies and queries (a valid example with parts dropped or replaced), so the fuzz
reaches past the first "missing parameter" check of each endpoint."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

SERVER = "localhost"
PASSWORD = "correct horse battery"  # the fuzzing user's password (tests.helpers.DEFAULT_PASSWORD)

FIELD_NAMES = """type auth session user identifier password new_password username device_id
initial_device_display_name display_name devices refresh_token inhibit_login logout_devices token
medium address client_secret sid id_server id_access_token threepid_creds erase name topic preset
visibility room_version room_alias_name invite invite_3pid is_direct creation_content
initial_state power_level_content_override user_id reason msgtype body membership displayname
avatar_url third_party_signed state_key content users events ban kick m.relates_to format
room_id filter limit search_term search_categories order score""".split()
QUERY_NAMES = """access_token kind username token from to dir limit filter since timeout at
membership not_membership server server_name via full_state set_presence user_id include
recurse ts""".split()
NASTY_STRINGS = [
    "", "\x00", "a\x00b", "\uffff", "\u202e", "😀" * 10, "ü", "%00", "%FF", "..",
    "../../etc/passwd", f"@fuzzer:{SERVER}", "@:", f"!room:{SERVER}", "$event", f"#alias:{SERVER}",
    "m.login.dummy", "m.login.password", "m.login.registration_token", "m.id.user", "x" * 300,
    "9" * 40, "-1", "0", "1e400", "NaN", "-0", "null", "true", "{}", "[]", "' OR 1=1 --", "\\",
    "\r\n", '{"limit": -1}', '{"room": {"timeline": {"limit": 1e400}}}', '{"types": ["\\u0000"]}',
    "s0_0", "t1-2_3", "b", "f",
]  # fmt: skip

text = st.one_of(st.text(max_size=20), st.sampled_from(NASTY_STRINGS))
# What an HTTP client library will put in a header: no control characters, but any Unicode.
header_text = text.map(lambda s: "".join(c for c in s if unicodedata.category(c) != "Cc"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), text), children, max_size=5),
    ),
    max_leaves=5,
)
# Objects made of the field names the endpoints read.
json_objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=5)


def nested(depth: int, inside: bytes = b"") -> bytes:
    return b"[" * depth + inside + b"]" * depth


HOSTILE_BODIES = [
    b"",
    b"\x00",
    b"\xff\xfe\xfd",
    b'{"username": "\xff\xfe", "password": "\xc3\x28"}',  # invalid UTF-8 inside strings
    b'{"type": "m.login.password", "user": "a\x00b", "password": "x"}',  # raw NUL: not JSON
    b'{"a": "\\u0000", "username": "\\u0000", "device_id": "\\u0000"}',  # escaped NUL: JSON
    b'{"a": "\\ud800"}',  # a lone surrogate escape
    nested(5_000),
    nested(100_000),
    b'{"auth": ' + nested(2_000, b"{}") + b"}",
    b'{"limit": 1e400, "timeout": -1e400}',
    b'{"x": ' + b"1" + b"0" * 5_000 + b"}",
    b'{"inhibit_login": 1e400}',
    b'{"username": "' + b"a" * 500_000 + b'"}',
    b'{"body": "' + b"b" * 1_200_000 + b'"}',  # over the body size limit
    b"{" * 3 + b'"a": 1',
    b'{"a": 1} trailing',
    b'{"a": 1, "a": 2}',
    b"[]",
    b'"just a string"',
    b"NaN",
    b"\xef\xbb\xbf{}",  # a byte-order mark
]
SMALL_HOSTILE_BODIES = [b for b in HOSTILE_BODIES if len(b) < 300_000]

# A valid example body for the endpoints that read one ("{room_id}" and the like are filled in
# with the fuzzing user's own IDs). Passwords in UIA bodies that could change or delete the
# account are wrong on purpose.
WRONG_PASSWORD_AUTH = {
    "type": "m.login.password",
    "identifier": {"type": "m.id.user", "user": "{user_id}"},
    "password": "not the password",
}
MEMBER = {"user_id": "{user_id}", "reason": "fuzz"}
BODY_TEMPLATES: dict[str, Any] = {
    "POST /_matrix/client/v3/register": {
        "username": "fz",
        "password": PASSWORD,
        "auth": {"type": "m.login.dummy", "session": "x"},
        "device_id": "FZ",
        "initial_device_display_name": "fuzz",
        "inhibit_login": False,
        "refresh_token": False,
    },
    "POST /_matrix/client/v3/login": {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": "fuzzer"},
        "user": "fuzzer",
        "password": PASSWORD,
        "device_id": "FZ",
        "initial_device_display_name": "fuzz",
        "refresh_token": True,
    },
    "POST /_matrix/client/v3/refresh": {"refresh_token": "mr_x"},
    "POST /_matrix/client/v3/account/password": {
        "new_password": "a new password",
        "logout_devices": False,
        "auth": WRONG_PASSWORD_AUTH,
    },
    "POST /_matrix/client/v3/account/deactivate": {"auth": WRONG_PASSWORD_AUTH, "erase": False},
    "POST /_matrix/client/v3/delete_devices": {
        "devices": ["NOSUCHDEVICE"],
        "auth": {**WRONG_PASSWORD_AUTH, "password": PASSWORD},
    },
    "DELETE /_matrix/client/v3/devices/{device_id}": {"auth": WRONG_PASSWORD_AUTH},
    "PUT /_matrix/client/v3/devices/{device_id}": {"display_name": "fuzzed"},
    "POST /_matrix/client/v3/createRoom": {
        "name": "fuzz",
        "topic": "fuzz",
        "preset": "private_chat",
        "visibility": "private",
        "room_version": "10",
        "room_alias_name": "fz",
        "invite": ["@nobody:" + SERVER],
        "is_direct": False,
        "creation_content": {"m.federate": False},
        "initial_state": [{"type": "m.room.topic", "state_key": "", "content": {"topic": "t"}}],
        "power_level_content_override": {"users_default": 0, "events": {"m.room.name": 50}},
    },
    "PUT /_matrix/client/v3/rooms/{room_id}/send/{event_type}/{txn_id}": {
        "msgtype": "m.text",
        "body": "hello",
        "m.relates_to": {"rel_type": "m.thread", "event_id": "{event_id}"},
    },
    "PUT /_matrix/client/v3/rooms/{room_id}/state/{event_type}": {"name": "fuzz"},
    "PUT /_matrix/client/v3/rooms/{room_id}/state/{event_type}/{state_key}": {
        "membership": "join",
        "displayname": "fuzz",
        "users": {"{user_id}": 100},
        "name": "fuzz",
    },
    "PUT /_matrix/client/v3/rooms/{room_id}/redact/{event_id}/{txn_id}": {"reason": "fuzz"},
    "POST /_matrix/client/v3/rooms/{room_id}/invite": MEMBER,
    "POST /_matrix/client/v3/rooms/{room_id}/kick": MEMBER,
    "POST /_matrix/client/v3/rooms/{room_id}/ban": MEMBER,
    "POST /_matrix/client/v3/rooms/{room_id}/unban": MEMBER,
    "POST /_matrix/client/v3/rooms/{room_id}/join": {"reason": "fuzz"},
    "POST /_matrix/client/v3/rooms/{room_id}/leave": {"reason": "fuzz"},
    "POST /_matrix/client/v3/join/{room_id_or_alias}": {"reason": "fuzz"},
    "POST /_matrix/client/v3/knock/{room_id_or_alias}": {"reason": "fuzz"},
    "POST /_matrix/client/v3/rooms/{room_id}/report/{event_id}": {"reason": "fuzz", "score": -100},
    "POST /_matrix/client/v3/rooms/{room_id}/report": {"reason": "fuzz"},
    "POST /_matrix/client/v3/users/{user_id}/report": {"reason": "fuzz"},
    "PUT /_matrix/client/v3/directory/room/{room_alias}": {"room_id": "{room_id}"},
    "PUT /_matrix/client/v3/directory/list/room/{room_id}": {"visibility": "public"},
    "PUT /_matrix/client/v3/profile/{user_id}/{key_name}": {"displayname": "fuzz", "avatar_url": "mxc://a/b"},
    "PUT /_matrix/client/v3/user/{user_id}/account_data/{type}": {"event_id": "{event_id}"},
    "PUT /_matrix/client/v3/user/{user_id}/rooms/{room_id}/account_data/{type}": {"event_id": "{event_id}"},
    "PUT /_matrix/client/v3/user/{user_id}/rooms/{room_id}/tags/{tag}": {"order": 0.5},
    "POST /_matrix/client/v3/user/{user_id}/filter": {
        "room": {"timeline": {"limit": 10, "types": ["m.room.message"]}, "rooms": ["{room_id}"]},
        "event_fields": ["content.body"],
        "event_format": "client",
    },
    "POST /_matrix/client/v3/publicRooms": {"limit": 5, "since": "x", "filter": {"generic_search_term": "f"}},
    "POST /_matrix/client/v3/search": {
        "search_categories": {
            "room_events": {"search_term": "hello", "keys": ["content.body"], "order_by": "recent"}
        }
    },
    "POST /_matrix/client/v3/user_directory/search": {"search_term": "fuzz", "limit": 5},
}
# Valid example queries; /sync never waits (no valid `since` and timeout 0 in the template).
QUERY_TEMPLATES: dict[str, dict[str, str]] = {
    "GET /_matrix/client/v3/sync": {
        "timeout": "0",
        "filter": "{}",
        "full_state": "true",
        "set_presence": "offline",
    },
    "GET /_matrix/client/v3/rooms/{room_id}/messages": {
        "dir": "b",
        "limit": "5",
        "from": "x",
        "filter": "{}",
    },
    "GET /_matrix/client/v3/rooms/{room_id}/context/{event_id}": {"limit": "5", "filter": "{}"},
    "GET /_matrix/client/v3/rooms/{room_id}/members": {
        "membership": "join",
        "not_membership": "leave",
        "at": "x",
    },
    "GET /_matrix/client/v1/rooms/{room_id}/relations/{event_id}": {
        "dir": "b",
        "limit": "5",
        "recurse": "true",
    },
    "GET /_matrix/client/v1/rooms/{room_id}/threads": {"include": "all", "limit": "5", "from": "x"},
    "GET /_matrix/client/v1/rooms/{room_id}/timestamp_to_event": {"ts": "0", "dir": "f"},
    "GET /_matrix/client/v3/publicRooms": {"limit": "5", "since": "x", "server": SERVER},
    "GET /_matrix/client/v3/register/available": {"username": "fz"},
    "GET /_matrix/client/v1/register/m.login.registration_token/validity": {"token": "abc"},
    "POST /_matrix/client/v3/register": {"kind": "user"},
}
# Never sent with a `since` the server would wait on, so no example can block for long.
BLOCKING_QUERY = {"GET /_matrix/client/v3/sync": "timeout"}


def fill(template: Any, ids: Mapping[str, str]) -> Any:
    """The template with "{room_id}"-style strings (values and keys) replaced by real IDs."""
    if isinstance(template, str):
        return ids.get(template.strip("{}"), template) if template.startswith("{") else template
    if isinstance(template, dict):
        return {fill(k, ids): fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, ids) for v in template]
    return template


def near(template: Any) -> st.SearchStrategy[Any]:
    """A valid value, or it with parts dropped or replaced by hostile values, recursively."""
    if isinstance(template, dict) and template:
        parts = st.fixed_dictionaries({}, optional={k: near(v) for k, v in template.items()})
        return st.one_of(st.just(template), parts, parts, json_values)
    if isinstance(template, list) and template:
        return st.one_of(st.just(template), st.lists(near(template[0]), max_size=3), json_values)
    return st.one_of(st.just(template), json_values)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # stdlib json: integers beyond 64 bits too


def bodies_for(key: str, ids: Mapping[str, str]) -> st.SearchStrategy[bytes | None]:
    template = fill(BODY_TEMPLATES.get(key, {}), ids)
    return st.one_of(
        near(template).map(encode),
        near(template).map(encode),
        json_objects.map(encode),
        json_values.map(encode),
        st.binary(max_size=300),
        st.sampled_from(HOSTILE_BODIES),
        st.none(),
    )


def queries_for(key: str, ids: Mapping[str, str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    template = fill(QUERY_TEMPLATES.get(key, {}), ids)
    blocking = BLOCKING_QUERY.get(key)
    values = {k: st.just(v) if k == blocking else st.one_of(st.just(v), text) for k, v in template.items()}
    known = st.fixed_dictionaries({}, optional=values).map(lambda d: list(d.items()))
    names = st.sampled_from([n for n in QUERY_NAMES if n != blocking])
    extra = st.lists(st.tuples(st.one_of(names, text.filter(lambda n: n != blocking)), text), max_size=2)
    return st.tuples(known, extra).map(lambda t: t[0] + t[1])


CONTENT_TYPES = [
    None, "application/json", "application/json; charset=latin-1", "text/plain", "multipart/form-data",
    "application/x-www-form-urlencoded", "ü/ü",
]  # fmt: skip


def authorizations(token: str) -> st.SearchStrategy[str | None]:
    """Mostly the valid token (to get past auth), else missing, malformed or hostile."""
    bad = st.one_of(
        st.sampled_from(
            [
                None,
                f"bearer {token}",
                f"Bearer {token}x",
                f"Bearer  {token} ",
                "Bearer",
                "Bearer ",
                "Basic Zm9vOmJhcg==",
                "Bearer a.b.c",
                f"Token {token}",
            ]
        ),
        header_text.map(lambda s: "Bearer " + s),
    )
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda valid: st.just(f"Bearer {token}") if valid else bad
    )


def path_values(name: str, plausible: Mapping[str, list[str]]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(plausible.get(name, ["x"])), st.sampled_from(NASTY_STRINGS), text)


# For hand-written requests. Header values: visible ASCII, space, tab and obs-text
# (0x80-0xFF), which HTTP allows and which need not be UTF-8.
header_bytes = st.binary(max_size=60).map(
    lambda b: bytes(c for c in b if c in (0x09, 0x20) or 0x21 <= c <= 0x7E or c >= 0x80)
)
# A path segment or query part: safe characters and percent-escapes of any byte (%00, %FF).
segment = st.lists(
    st.one_of(
        st.sampled_from(list("abcXYZ019-._~!$&'()*+,;=:@")),
        st.integers(0, 255).map(lambda c: f"%{c:02X}"),
    ),
    max_size=12,
).map("".join)
