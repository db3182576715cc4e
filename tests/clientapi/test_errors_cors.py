"""The client API's edge: standard error responses, CORS, preflight, r0 aliases, 500s."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from homeserver.appkeys import DEVICES, USERS
from tests.clientapi.util import assert_cors, assert_error, has_device, user_count
from tests.helpers import HomeserverUnderTest


async def test_unknown_endpoint_is_404_unrecognized(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for path in ("/no/such/thing", "/_matrix/client/r0/no/such/thing", "/_matrix/client/v1/nope"):
        assert_error(await anon.get(path, expect=404), "M_UNRECOGNIZED")
        assert_cors(anon)
        assert anon.last_response.content_type == "application/json"


async def test_unknown_endpoint_with_a_token_is_still_404(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.post("/no/such/thing", {}, expect=404), "M_UNRECOGNIZED")


async def test_wrong_method_is_405_unrecognized(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    assert_error(await anon.put("/login", {}, expect=405), "M_UNRECOGNIZED")
    assert_cors(anon)
    assert_error(await anon.get("/logout", expect=405), "M_UNRECOGNIZED")
    assert_error(await anon.delete("/account/whoami", expect=405), "M_UNRECOGNIZED")
    assert_error(await anon.post("/_matrix/client/versions", {}, expect=405), "M_UNRECOGNIZED")


async def test_options_preflight_answers_without_auth_or_logic(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    for path in ("/logout", "/logout/all", "/account/whoami", "/devices/XYZ", "/no/such/thing"):
        raw = await alice.request(
            "OPTIONS",
            path,
            expect=204,
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert raw == b""
        assert_cors(alice)
    # The preflight of /logout did not log out.
    await alice.get("/account/whoami")
    assert await has_device(hs, alice.user_id, alice.device_id)


async def test_options_preflight_without_token(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for path in ("/account/whoami", "/_matrix/client/versions", "/.well-known/matrix/client"):
        await anon.request("OPTIONS", path, expect=204)
        assert_cors(anon)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/_matrix/client/versions", 200),
        ("GET", "/.well-known/matrix/client", 200),
        ("GET", "/login", 200),
        ("GET", "/account/whoami", 401),
        ("POST", "/login", 400),
        ("GET", "/capabilities", 401),
        ("PUT", "/login", 405),
        ("GET", "/nope", 404),
    ],
)
async def test_cors_headers_on_every_client_response(
    hs: HomeserverUnderTest, method: str, path: str, status: int
) -> None:
    anon = hs.client()
    await anon.request(method, path, {} if method != "GET" else None, expect=status)
    assert_cors(anon)


async def test_cors_headers_on_authenticated_responses(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.get("/account/whoami")
    assert_cors(alice)
    await alice.get("/devices")
    assert_cors(alice)
    await alice.request("GET", "/_matrix/client/r0/account/whoami")
    assert_cors(alice)


async def test_not_json_body(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for data in (b"{not json", b"\xff\xfe", b'{"a": "\xc3\x28"}', b'{"a": 1e999}', b"{'a': 1}", b'{"a":NaN}'):
        err = await anon.post("/login", data=data, headers={"Content-Type": "application/json"}, expect=400)
        assert_error(err, "M_NOT_JSON")
        assert_error(await anon.post("/register", data=data, expect=400), "M_NOT_JSON")
    assert await user_count(hs) == 0


async def test_json_that_is_not_an_object(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for data in (b"[]", b"[1, 2]", b'"string"', b"42", b"true", b"null"):
        assert_error(await anon.post("/register", data=data, expect=400), "M_BAD_JSON")
        assert_cors(anon)
        assert_error(await anon.post("/login", data=data, expect=400), "M_BAD_JSON")
    assert await user_count(hs) == 0


async def test_deeply_nested_json_is_refused_not_crashed(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    depth = 100_000
    data = b'{"a":' * depth + b"1" + b"}" * depth
    err = await anon.post("/login", data=data, expect=400)
    assert_error(err, "M_NOT_JSON")
    arrays = b'{"auth":' + b"[" * depth + b"]" * depth + b"}"
    assert_error(await anon.post("/register", data=arrays, expect=400), "M_NOT_JSON")
    assert await user_count(hs) == 0


async def test_huge_integers_and_floats_where_other_types_belong(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    big = b"1" + b"0" * 400
    for key in (b"username", b"password", b"inhibit_login", b"device_id"):
        data = b'{"%s": %s}' % (key, big)
        err = await anon.post("/register", data=data, expect=400)
        assert err["errcode"] in ("M_INVALID_PARAM", "M_NOT_JSON"), err
    err = await anon.post("/register", data=b'{"username": "bob", "inhibit_login": %d}' % 2**70, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await anon.post("/register", {"username": "bob", "refresh_token": 1.5}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await user_count(hs) == 0


async def test_internal_errors_never_leak_a_stack_trace(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await hs.register("alice")

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(hs.app[DEVICES], "list_for", boom)
    with caplog.at_level(logging.ERROR):
        err = await alice.get("/devices", expect=500)
    assert_error(err, "M_UNKNOWN")
    assert_cors(alice)
    text = repr(err)
    for leak in ("Traceback", "secret internal detail", "RuntimeError", ".py"):
        assert leak not in text
    request_id = alice.last_response.headers["X-Request-Id"]
    assert request_id and request_id in err["error"]
    # The failure is logged server-side, with the request id.
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_internal_error_in_a_public_endpoint(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("no")

    monkeypatch.setattr(hs.app[USERS], "exists", boom)
    err = await hs.client().get("/register/available", params={"username": "bob"}, expect=500)
    assert_error(err, "M_UNKNOWN")
    assert "Traceback" not in repr(err)


async def test_r0_aliases_answer(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    r0 = "/_matrix/client/r0"
    me = await alice.get(f"{r0}/account/whoami")
    assert me["user_id"] == alice.user_id
    flows = await alice.get(f"{r0}/login")
    assert {"type": "m.login.password"} in flows["flows"]
    assert "devices" in await alice.get(f"{r0}/devices")
    assert "capabilities" in await alice.get(f"{r0}/capabilities")
    available = await hs.client().get(f"{r0}/register/available", params={"username": "bob"})
    assert available == {"available": True}
    login = await hs.client().post(
        f"{r0}/login",
        {"type": "m.login.password", "user": "alice", "password": alice.password},
    )
    assert login["user_id"] == alice.user_id
    assert "threepids" in await alice.get(f"{r0}/account/3pid")
    await alice.post(f"{r0}/logout", {})
    assert_error(await alice.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")


async def test_refresh_has_no_r0_alias(hs: HomeserverUnderTest) -> None:
    err = await hs.client().post("/_matrix/client/r0/refresh", {"refresh_token": "x"}, expect=404)
    assert_error(err, "M_UNRECOGNIZED")


async def test_json_responses_say_so(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    await anon.get("/_matrix/client/versions")
    assert anon.last_response.content_type == "application/json"
    await anon.get("/account/whoami", expect=401)
    assert anon.last_response.content_type == "application/json"
