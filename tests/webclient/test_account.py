"""Accounts in the web client: register (m.login.dummy, or a registration token when the
server wants one), stay signed in across reloads, log out, sign in again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from homeserver.appkeys import REGISTRATION_TOKENS
from homeserver.clock import now_ms
from homeserver.config import Registration
from tests.helpers import DEFAULT_PASSWORD, HomeserverUnderTest
from tests.webclient.conftest import MakePerson, new_page, running_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def token_hs(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HomeserverUnderTest]:
    data = tmp_path_factory.mktemp("webclient-token")
    async with running_server(sqlite_template, data, registration=Registration(require_token=True)) as server:
        await server.app[REGISTRATION_TOKENS].create("letmein", None, None, now_ms())
        yield server


async def fill_register(page: Page, username: str, password: str = DEFAULT_PASSWORD) -> None:
    await page.get_by_role("button", name="Create an account").click()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)


async def test_register_with_token_reload_logout_login(
    browser: Browser, token_hs: HomeserverUnderTest
) -> None:
    context, page, _ = await new_page(browser)
    try:
        await page.goto(token_hs.base_url + "/")
        await fill_register(page, "dana")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_role("alert").first).to_contain_text("registration token")
        await page.get_by_label("Registration token (if the server asks for one)").fill("nope")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator(".login .error")).not_to_be_empty()
        await expect(page.locator(".room-list")).to_have_count(0)
        await page.get_by_label("Registration token (if the server asks for one)").fill("letmein")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator(".sidebar .me")).to_have_text("@dana:localhost")
        token = await token_hs.app[REGISTRATION_TOKENS].get("letmein")
        assert token is not None and token.completed == 1

        await page.reload()
        await expect(page.locator(".sidebar .me")).to_have_text("@dana:localhost")
        session = await page.evaluate("JSON.parse(localStorage.getItem('mx.session'))")
        await token_hs.client(session["access_token"]).get("/account/whoami")

        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("heading", name="Sign in to localhost")).to_be_visible()
        assert await page.evaluate("localStorage.getItem('mx.session')") is None
        await token_hs.client(session["access_token"]).get("/account/whoami", expect=401)

        await page.get_by_label("Username").fill("dana")
        await page.get_by_label("Password").fill("wrong password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator(".login .error")).not_to_be_empty()
        await page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator(".sidebar .me")).to_have_text("@dana:localhost")
    finally:
        await context.close()


async def test_register_without_token_and_chat(
    browser: Browser, web_hs: HomeserverUnderTest, person: MakePerson
) -> None:
    alice = await person("alice")
    context, page, _ = await new_page(browser)
    try:
        await page.goto(web_hs.base_url + "/")
        await fill_register(page, "erin")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator(".sidebar .me")).to_have_text("@erin:localhost")
        await expect(page.locator(".room-list .hint")).to_have_text("No rooms yet.")  # first sync in
        room = (await alice.client.post("/createRoom", {"name": "Welcome", "invite": ["@erin:localhost"]}))[
            "room_id"
        ]
        await page.get_by_role("button", name="Accept invite to Welcome").click()
        await expect(page.locator(".room-title")).to_have_text("Welcome")
        box = page.get_by_label("Message", exact=True)
        await box.fill("hi from a brand new account")
        await box.press("Enter")
        await alice.open_room("Welcome")
        await expect(alice.page.locator(".message", has_text="hi from a brand new account")).to_be_visible()
        members = await alice.client.get(f"/rooms/{room}/joined_members")
        assert "@erin:localhost" in members["joined"]
    finally:
        await context.close()


async def test_revoked_token_returns_to_sign_in(person: MakePerson) -> None:
    alice = await person("alice")
    await alice.client.post("/logout")  # e.g. signed out from another device
    await expect(alice.page.get_by_role("heading", name="Sign in to localhost")).to_be_visible()
    assert await alice.page.evaluate("localStorage.getItem('mx.session')") is None
