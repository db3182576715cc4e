"""The composition root: builds the web application from the core and its edges.

This is the one module of `homeserver/` that imports `clientapi/`, `federation/` and
`webclient/`; the rest of the core never does."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from clientapi.app import setup_client_api
from federation.app import setup_federation
from homeserver import appkeys as K
from homeserver.accounts import Accounts
from homeserver.auth.passwords import PasswordHasher
from homeserver.auth.tokens import TokenIssuer, load_or_create_secret
from homeserver.config import Config
from homeserver.ratelimit import RateLimiter
from homeserver.storage.database import Database, create_database
from homeserver.storage.devices import DeviceStore
from homeserver.storage.migrate import migrate
from homeserver.storage.registration_tokens import RegistrationTokenStore
from homeserver.storage.uia import UiaStore
from homeserver.storage.users import UserStore
from homeserver.uia import UserInteractiveAuth
from webclient.views import setup_webclient


async def open_database(config: Config) -> Database:
    """Connect and migrate; raises on an unreachable database."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    db = create_database(config.sqlalchemy_url, schema=config.database_schema)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


def wire_core(app: web.Application, config: Config, db: Database) -> None:
    """Create the stores and services over an open database and hang them on the app."""
    app[K.DATABASE] = db
    app[K.USERS] = users = UserStore(db)
    app[K.DEVICES] = devices = DeviceStore(db)
    app[K.REGISTRATION_TOKENS] = registration_tokens = RegistrationTokenStore(db)
    app[K.PASSWORDS] = passwords = PasswordHasher(config.password_hashing)
    app[K.TOKENS] = tokens = TokenIssuer(load_or_create_secret(config.jwt_secret, config.data_path), devices)
    app[K.RATE_LIMITER] = limiter = RateLimiter(config.rate_limits)
    app[K.UIA] = UserInteractiveAuth(
        UiaStore(db), users, passwords, registration_tokens, limiter, config.server_name
    )
    app[K.ACCOUNTS] = Accounts(config, users, devices, passwords, tokens)


def make_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=config.max_request_body_bytes)
    app[K.CONFIG] = config

    async def core(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(config)
        wire_core(app, config, db)
        yield
        await db.close()

    app.cleanup_ctx.append(core)
    app.router.add_get("/health", health)
    setup_client_api(app)
    setup_federation(app)
    if config.serve_web_client:
        setup_webclient(app)
    return app


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")
