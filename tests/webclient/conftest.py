"""Fixtures for the web client's browser tests: one homeserver (SQLite) and one headless
Debian Chromium per test module, and people: a browser context each, signed in as a fresh user.
The whole module runs in one event loop, shared by the server, Playwright and the tests."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from homeserver.config import PasswordHashing, RateLimits, load_config
from tests.helpers import HomeserverUnderTest, MatrixClient

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
# Desktop notifications are recorded instead of shown; a flag tells whether any script ran.
INIT_SCRIPT = """
window.__notifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notifications.push({title, body: (options || {}).body}); }
  addEventListener() {}
  close() {}
};
"""
_names = itertools.count()
PAGE_ERRORS: list[str] = []  # uncaught exceptions in any page, checked after each test

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")


@dataclasses.dataclass
class Person:
    """Someone using the web client in a browser context of their own."""

    page: Page
    context: BrowserContext
    client: MatrixClient
    dialogs: list[str]

    @property
    def user_id(self) -> str:
        assert self.client.user_id is not None
        return self.client.user_id

    async def open_room(self, name: str) -> None:
        await self.page.locator(".room-list .room", has_text=name).click()
        await self.page.locator(".room-title", has_text=name).wait_for()

    async def say(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        await box.fill(text)
        await box.press("Enter")

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


MakePerson = Callable[..., Awaitable[Person]]


@contextlib.asynccontextmanager
async def running_server(template: Path, data: Path, **changes: Any) -> AsyncIterator[HomeserverUnderTest]:
    """A homeserver on SQLite (copied from the migrated template) with the test config."""
    shutil.copyfile(template, data / "homeserver.db")
    config = dataclasses.replace(
        load_config(None, env={}),
        data_dir=str(data),
        password_hashing=PasswordHashing(opslimit=1, memlimit=8192, min_length=8),
        rate_limits=RateLimits(enabled=False),
        **changes,
    )
    server = HomeserverUnderTest(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web_hs(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HomeserverUnderTest]:
    async with running_server(sqlite_template, tmp_path_factory.mktemp("webclient")) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def _record_console_error(msg: ConsoleMessage) -> None:
    # CSP violations by the client itself, and sync responses it could not apply (caught,
    # so that sync goes on, but a bug all the same).
    if "Content Security Policy" in msg.text or "could not apply a sync response" in msg.text:
        PAGE_ERRORS.append(msg.text)


async def new_page(browser: Browser, **context_args: Any) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(**({"service_workers": "block"} | context_args))
    await context.add_init_script(INIT_SCRIPT)
    page = await context.new_page()
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: PAGE_ERRORS.append(f"{error.name}: {error.message}\n{error.stack}"))
    # The client itself must never trip its own Content-Security-Policy.
    page.on("console", _record_console_error)
    return context, page, dialogs


@pytest_asyncio.fixture(loop_scope="module")
async def person(browser: Browser, web_hs: HomeserverUnderTest) -> AsyncIterator[MakePerson]:
    """`await person("alice")`: a fresh user (registered over HTTP), signed in to the web
    client in a new browser context."""
    contexts: list[BrowserContext] = []

    async def make(name: str, *, dark: bool = False, **context_args: Any) -> Person:
        client = await web_hs.register(f"{name}{next(_names)}")
        await client.put(f"/profile/{client.user_id}/displayname", {"displayname": name.title()})
        context, page, dialogs = await new_page(
            browser, color_scheme="dark" if dark else "light", **context_args
        )
        contexts.append(context)
        session = {
            "access_token": client.access_token,
            "user_id": client.user_id,
            "device_id": client.device_id,
        }
        await page.goto(web_hs.base_url + "/")
        await page.evaluate("s => localStorage.setItem('mx.session', s)", orjson.dumps(session).decode())
        await page.reload()
        # The first sync is in once the empty room list says so.
        await page.locator(".room-list .hint", has_text="No rooms yet.").wait_for()
        return Person(page, context, client, dialogs)

    PAGE_ERRORS.clear()
    yield make
    for context in contexts:
        await context.close()
    assert PAGE_ERRORS == [], "uncaught errors in the web client"
