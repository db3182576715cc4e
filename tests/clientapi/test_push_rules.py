"""The push rules API (spec: "Push Rules: API", pushrules.yaml) and the m.push_rules account
data that carries the rules to clients through /sync."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from homeserver.appkeys import ACCOUNT_DATA, DATABASE
from homeserver.ids import UserID
from homeserver.push.service import PushRules
from homeserver.storage.account_data import AccountDataStore
from tests.clientapi.stream_helpers import woken_by
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

GLOBAL = "/pushrules/global"
KINDS = ("override", "content", "room", "sender", "underride")
CAKE = {"pattern": "cake", "actions": ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}]}
BEER = {
    "conditions": [
        {"kind": "event_match", "key": "content.body", "pattern": "beer"},
        {"kind": "room_member_count", "is": "<=10"},
    ],
    "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
}


def rule_path(kind: str, rule_id: str) -> str:
    return f"{GLOBAL}/{kind}/{quote(rule_id, safe='')}"


async def rule_ids(client: MatrixClient, kind: str) -> list[str]:
    return [rule["rule_id"] for rule in (await client.get(f"{GLOBAL}/"))[kind]]


async def stored(hs: HomeserverUnderTest, client: MatrixClient) -> Any:
    """The m.push_rules account data the database holds, read beneath the API."""
    assert client.user_id is not None
    return await hs.app[ACCOUNT_DATA]._store.get(UserID(client.user_id), None, "m.push_rules")


async def test_all_rules_are_the_spec_defaults_for_a_new_user(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    body = await alice.get("/pushrules/")
    assert set(body) == {"global"}
    ruleset = body["global"]
    assert set(ruleset) == set(KINDS)
    assert await alice.get(f"{GLOBAL}/") == ruleset
    assert await alice.get("/_matrix/client/r0/pushrules/") == body
    assert ruleset["override"][0]["rule_id"] == ".m.rule.master"
    assert ruleset["override"][0]["enabled"] is False
    assert ".m.rule.is_user_mention" in await rule_ids(alice, "override")
    assert await rule_ids(alice, "underride") == [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ]
    invite = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.invite_for_me")
    assert {"kind": "event_match", "key": "state_key", "pattern": alice.user_id} in invite["conditions"]
    for rules in ruleset.values():
        for rule in rules:
            assert {"rule_id", "default", "enabled", "actions"} <= set(rule)
    assert await stored(hs, alice) is None  # reading writes nothing


async def test_one_default_rule_its_flag_and_actions(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    message = await alice.get(rule_path("underride", ".m.rule.message"))
    assert message == {
        "rule_id": ".m.rule.message",
        "default": True,
        "enabled": True,
        "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
        "actions": ["notify"],
    }
    assert await alice.get(rule_path("override", ".m.rule.master") + "/enabled") == {"enabled": False}
    assert await alice.get(rule_path("underride", ".m.rule.call") + "/actions") == {
        "actions": ["notify", {"set_tweak": "sound", "value": "ring"}]
    }
    user_name = await alice.get(rule_path("content", ".m.rule.contains_user_name"))
    assert user_name["pattern"] == "alice"
    for suffix in ("", "/enabled", "/actions"):
        assert_error(await alice.get(rule_path("override", "nope") + suffix, expect=404), "M_NOT_FOUND")
        # a default rule asked for under another kind
        assert_error(
            await alice.get(rule_path("override", ".m.rule.message") + suffix, expect=404), "M_NOT_FOUND"
        )
        assert_error(
            await alice.get(rule_path("bogus", ".m.rule.message") + suffix, expect=400), "M_INVALID_PARAM"
        )


async def test_put_get_and_delete_a_content_rule(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.put(rule_path("content", "SSByZWFsbHkgbGlrZSBjYWtl"), CAKE) == {}
    rule = await alice.get(rule_path("content", "SSByZWFsbHkgbGlrZSBjYWtl"))
    assert rule == {"rule_id": "SSByZWFsbHkgbGlrZSBjYWtl", "default": False, "enabled": True, **CAKE}
    # The user's rules come before the server-default rules of their kind.
    assert await rule_ids(alice, "content") == ["SSByZWFsbHkgbGlrZSBjYWtl", ".m.rule.contains_user_name"]

    assert await alice.delete(rule_path("content", "SSByZWFsbHkgbGlrZSBjYWtl")) == {}
    assert_error(await alice.get(rule_path("content", "SSByZWFsbHkgbGlrZSBjYWtl"), expect=404), "M_NOT_FOUND")
    err = await alice.delete(rule_path("content", "SSByZWFsbHkgbGlrZSBjYWtl"), expect=404)
    assert_error(err, "M_NOT_FOUND")
    assert await rule_ids(alice, "content") == [".m.rule.contains_user_name"]


async def test_override_rule_goes_below_master_only(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.put(rule_path("override", "U2VlIHlvdSBpbiBUaGUgRHVrZQ"), BEER)
    assert (await rule_ids(alice, "override"))[:3] == [
        ".m.rule.master",
        "U2VlIHlvdSBpbiBUaGUgRHVrZQ",
        ".m.rule.suppress_notices",
    ]
    rule = await alice.get(rule_path("override", "U2VlIHlvdSBpbiBUaGUgRHVrZQ"))
    assert rule["conditions"] == BEER["conditions"] and rule["default"] is False


async def test_room_and_sender_rules(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = f"!dj234r78wl45Gh4D:{hs.config.server_name}"
    spambot = "@spambot:matrix.org"
    assert await alice.put(rule_path("room", room), {"actions": []}) == {}
    assert await alice.put(rule_path("sender", spambot), {"actions": []}) == {}
    assert await alice.get(f"{GLOBAL}/room/{room}") == {
        "rule_id": room,
        "default": False,
        "enabled": True,
        "actions": [],
    }
    assert await rule_ids(alice, "sender") == [spambot]
    assert_error(
        await alice.put(rule_path("room", "not-a-room"), {"actions": []}, expect=400), "M_INVALID_PARAM"
    )
    assert_error(await alice.put(rule_path("room", spambot), {"actions": []}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(rule_path("sender", room), {"actions": []}, expect=400), "M_INVALID_PARAM")
    assert_error(
        await alice.put(rule_path("sender", "spambot"), {"actions": []}, expect=400), "M_INVALID_PARAM"
    )
    assert await rule_ids(alice, "room") == [room]


async def test_new_rules_go_first_and_before_after_place_them(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")

    async def put(rule_id: str, expect: int = 200, **params: str) -> Any:
        return await alice.put(
            rule_path("content", rule_id), {"pattern": rule_id, "actions": []}, params=params, expect=expect
        )

    await put("a")
    await put("b")
    assert await rule_ids(alice, "content") == ["b", "a", ".m.rule.contains_user_name"]
    await put("c", before="a")
    assert await rule_ids(alice, "content") == ["b", "c", "a", ".m.rule.contains_user_name"]
    await put("d", after="b")
    assert await rule_ids(alice, "content") == ["b", "d", "c", "a", ".m.rule.contains_user_name"]
    await put("e", after="a")
    assert await rule_ids(alice, "content") == ["b", "d", "c", "a", "e", ".m.rule.contains_user_name"]
    await put("f", before="b", after="a")  # spec: `before` decides when both are given
    assert await rule_ids(alice, "content") == ["f", "b", "d", "c", "a", "e", ".m.rule.contains_user_name"]

    # An existing rule stays where it is unless moved, and moves with before/after.
    await alice.put(rule_path("content", "c"), {"pattern": "changed", "actions": ["notify"]})
    assert await rule_ids(alice, "content") == ["f", "b", "d", "c", "a", "e", ".m.rule.contains_user_name"]
    assert (await alice.get(rule_path("content", "c")))["pattern"] == "changed"
    await put("f", after="e")
    assert await rule_ids(alice, "content") == ["b", "d", "c", "a", "e", "f", ".m.rule.contains_user_name"]
    await put("e", before="b")
    assert await rule_ids(alice, "content") == ["e", "b", "d", "c", "a", "f", ".m.rule.contains_user_name"]

    before = await alice.get("/pushrules/")
    assert_error(await put("g", before="nope", expect=400), "M_UNKNOWN")
    assert_error(await put("b", after="nope", expect=400), "M_UNKNOWN")
    assert_error(await put("g", before="g", expect=400), "M_UNKNOWN")
    assert_error(await put("g", after=".m.rule.contains_user_name", expect=400), "M_INVALID_PARAM")
    # before/after name rules of the same kind only
    await alice.put(rule_path("override", "o"), {"conditions": [], "actions": []})
    before = await alice.get("/pushrules/")
    assert_error(await put("g", before="o", expect=400), "M_UNKNOWN")
    assert await alice.get("/pushrules/") == before


async def test_enable_and_disable_rules_and_set_actions(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    master = rule_path("override", ".m.rule.master")
    assert await alice.put(master + "/enabled", {"enabled": True}) == {}
    assert await alice.get(master + "/enabled") == {"enabled": True}
    assert (await alice.get("/pushrules/"))["global"]["override"][0]["enabled"] is True
    await alice.put(master + "/enabled", {"enabled": False})
    assert (await alice.get(master))["enabled"] is False

    message = rule_path("underride", ".m.rule.message")
    actions = ["notify", {"set_tweak": "sound", "value": "bing"}, {"set_tweak": "highlight", "value": False}]
    assert await alice.put(message + "/actions", {"actions": actions}) == {}
    assert await alice.get(message + "/actions") == {"actions": actions}
    changed = await alice.get(message)
    assert changed["default"] is True and changed["conditions"][0]["pattern"] == "m.room.message"

    await alice.put(rule_path("content", "cake"), CAKE)
    await alice.put(rule_path("content", "cake") + "/enabled", {"enabled": False})
    assert await alice.get(rule_path("content", "cake") + "/enabled") == {"enabled": False}
    await alice.put(rule_path("content", "cake"), {**CAKE, "pattern": "pie"})  # update keeps the flag
    assert (await alice.get(rule_path("content", "cake")))["enabled"] is False
    await alice.put(rule_path("content", "cake") + "/actions", {"actions": ["dont_notify"]})
    # spec ("Historical Actions"): dont_notify and coalesce are stripped
    assert await alice.get(rule_path("content", "cake") + "/actions") == {"actions": []}
    await alice.put(message + "/actions", {"actions": ["coalesce", "notify"]})
    assert await alice.get(message + "/actions") == {"actions": ["notify"]}

    assert_error(
        await alice.put(rule_path("override", "nope") + "/enabled", {"enabled": True}, expect=404),
        "M_NOT_FOUND",
    )
    assert_error(
        await alice.put(rule_path("override", ".m.rule.nope") + "/actions", {"actions": []}, expect=404),
        "M_NOT_FOUND",
    )


BAD_PUTS: list[tuple[str, str, Any, int, str]] = [
    # (kind, rule_id, body, status, errcode)
    ("override", ".m.rule.mine", {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("override", ".m.rule.master", {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("content", ".m.rule.contains_user_name", {"pattern": "x", "actions": []}, 400, "M_INVALID_PARAM"),
    ("override", "back\\slash", {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("override", "a/slash", {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("override", "nul\x00", {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("override", "x" * 256, {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("bogus", "mine", {"conditions": [], "actions": []}, 400, "M_INVALID_PARAM"),
    ("content", "mine", {"actions": []}, 400, "M_BAD_JSON"),
    ("content", "mine", {"pattern": 5, "actions": []}, 400, "M_BAD_JSON"),
    ("content", "mine", {"pattern": "x"}, 400, "M_BAD_JSON"),
    ("override", "mine", {"actions": []}, 400, "M_BAD_JSON"),
    ("underride", "mine", {"conditions": "x", "actions": []}, 400, "M_BAD_JSON"),
    ("override", "mine", {"conditions": [5], "actions": []}, 400, "M_BAD_JSON"),
    ("override", "mine", {"conditions": [{"kind": 5}], "actions": []}, 400, "M_BAD_JSON"),
    ("override", "mine", {"conditions": [{"key": "type"}], "actions": []}, 400, "M_BAD_JSON"),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "event_match", "key": "type"}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "event_match", "pattern": "x"}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "event_property_is", "key": "content.x", "value": {"a": 1}}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "event_property_contains", "key": "content.x"}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "event_property_is", "key": "content.x", "value": 1.5}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "room_member_count", "is": "two"}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "room_member_count", "is": 2}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    (
        "override",
        "mine",
        {"conditions": [{"kind": "sender_notification_permission"}], "actions": []},
        400,
        "M_BAD_JSON",
    ),
    ("room", "!r:example.org", {}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", {"actions": "notify"}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", {"actions": ["bogus"]}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", {"actions": [5]}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", {"actions": [{"set_tweak": 5}]}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", {"actions": [{"value": "x"}]}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", {"actions": [{"set_tweak": "highlight", "value": "yes"}]}, 400, "M_BAD_JSON"),
    ("room", "!r:example.org", [1], 400, "M_BAD_JSON"),
    ("room", "!r:example.org", "text", 400, "M_BAD_JSON"),
]


@pytest.mark.parametrize(("kind", "rule_id", "body", "status", "errcode"), BAD_PUTS)
async def test_bad_puts_change_nothing(
    hs: HomeserverUnderTest, kind: str, rule_id: str, body: Any, status: int, errcode: str
) -> None:
    alice = await hs.register("alice")
    before = await alice.get("/pushrules/")
    assert_error(await alice.put(rule_path(kind, rule_id), body, expect=status), errcode)
    assert await alice.get("/pushrules/") == before
    assert await stored(hs, alice) is None


async def test_more_bad_input_changes_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.put(rule_path("content", "cake"), CAKE)
    before = await alice.get("/pushrules/")
    cake, master = rule_path("content", "cake"), rule_path("override", ".m.rule.master")

    assert_error(await alice.put(cake, data=b"{not json", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(cake, {"pattern": "x" * 70_000, "actions": []}, expect=413), "M_TOO_LARGE")
    long_actions = {"actions": [{"set_tweak": "sound", "value": "x" * 70_000}]}
    assert_error(await alice.put(master + "/actions", long_actions, expect=413), "M_TOO_LARGE")
    assert_error(
        await alice.put(cake, {"pattern": "x" * 2_000_000, "actions": []}, expect=413), "M_TOO_LARGE"
    )
    for body in ({}, {"enabled": "true"}, {"enabled": 1}, {"enabled": None}, [True]):
        assert_error(await alice.put(master + "/enabled", body, expect=400), "M_BAD_JSON")
        assert_error(await alice.put(cake + "/enabled", body, expect=400), "M_BAD_JSON")
    for bad_actions in ({}, {"actions": "notify"}, {"actions": ["notify", "bogus"]}, {"actions": None}):
        assert_error(await alice.put(master + "/actions", bad_actions, expect=400), "M_BAD_JSON")
    assert_error(
        await alice.put(rule_path("bogus", "cake") + "/enabled", {"enabled": True}, expect=400),
        "M_INVALID_PARAM",
    )
    # Server-default rules cannot be deleted, unknown ones are not found.
    assert_error(await alice.delete(master, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.delete(rule_path("underride", ".m.rule.message"), expect=400), "M_INVALID_PARAM")
    assert_error(await alice.delete(rule_path("override", ".m.rule.nope"), expect=404), "M_NOT_FOUND")
    assert_error(await alice.delete(rule_path("override", "cake"), expect=404), "M_NOT_FOUND")  # other kind
    assert_error(await alice.delete(rule_path("bogus", "cake"), expect=400), "M_INVALID_PARAM")
    assert await alice.get("/pushrules/") == before
    await hs.client().get("/pushrules/", expect=401)
    await hs.client().put(cake + "/enabled", {"enabled": False}, expect=401)
    assert await alice.get("/pushrules/") == before


async def test_each_user_has_their_own_rules(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await alice.put(rule_path("content", "cake"), CAKE)
    await alice.put(rule_path("override", ".m.rule.master") + "/enabled", {"enabled": True})
    assert_error(await bob.get(rule_path("content", "cake"), expect=404), "M_NOT_FOUND")
    assert await bob.get(rule_path("override", ".m.rule.master") + "/enabled") == {"enabled": False}
    bob_invite = await bob.get(rule_path("override", ".m.rule.invite_for_me"))
    assert bob_invite["conditions"][2]["pattern"] == bob.user_id
    assert (await bob.get(rule_path("content", ".m.rule.contains_user_name")))["pattern"] == "bob"


async def test_a_change_reaches_sync_as_m_push_rules(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    since = (await alice.get("/sync"))["next_batch"]
    assert alice.user_id is not None

    change = alice.put(rule_path("override", ".m.rule.master") + "/enabled", {"enabled": True})
    assert await woken_by(hs, alice.user_id, change)  # a waiting /sync wakes up

    body = await alice.get("/sync", params={"since": since})
    events = [e for e in body["account_data"]["events"] if e["type"] == "m.push_rules"]
    assert events == [{"type": "m.push_rules", "content": await alice.get("/pushrules/")}]
    assert events[0]["content"]["global"]["override"][0]["enabled"] is True
    # and the client can read it as account data, but not write it
    assert await alice.get(f"/user/{alice.user_id}/account_data/m.push_rules") == events[0]["content"]
    err = await alice.put(f"/user/{alice.user_id}/account_data/m.push_rules", {"global": {}}, expect=405)
    assert_error(err, "M_BAD_JSON")

    since = body["next_batch"]
    await alice.put(rule_path("content", "cake"), CAKE)
    body = await alice.get("/sync", params={"since": since})
    (pushed,) = [e for e in body["account_data"]["events"] if e["type"] == "m.push_rules"]
    assert pushed["content"]["global"]["content"][0]["rule_id"] == "cake"
    assert pushed["content"]["global"]["override"][0]["enabled"] is True  # earlier change kept


async def test_stored_rules_are_what_clients_read_and_read_back(hs: HomeserverUnderTest) -> None:
    """The account data holds the ruleset as served, and a fresh service reads back the user's
    rules and changed defaults from it."""
    alice = await hs.register("alice")
    assert alice.user_id is not None
    await alice.put(rule_path("content", "cake"), CAKE)
    await alice.put(rule_path("underride", ".m.rule.message") + "/actions", {"actions": []})
    await alice.put(rule_path("override", ".m.rule.reaction") + "/enabled", {"enabled": False})
    served = await alice.get("/pushrules/")
    assert await stored(hs, alice) == served
    fresh = PushRules(AccountDataStore(hs.app[DATABASE]), hs.app[ACCOUNT_DATA])
    assert await fresh.content(UserID(alice.user_id)) == served


async def test_a_users_rules_have_a_size_limit(hs: HomeserverUnderTest) -> None:
    """About 1 MiB in all: 17 rules of 60 kB fit, the 18th does not."""
    alice = await hs.register("alice")
    body = {"pattern": "x" * 60_000, "actions": []}
    for n in range(17):
        await alice.put(rule_path("content", f"r{n}"), body)
    before = await alice.get("/pushrules/")
    assert_error(await alice.put(rule_path("content", "r17"), body, expect=413), "M_TOO_LARGE")
    assert await alice.get("/pushrules/") == before
    await alice.put(rule_path("content", "r0"), {"pattern": "short", "actions": []})  # updates still fit
