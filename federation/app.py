"""Mounts the Server-Server API. Only OpenID userinfo is served yet (it needs no request
signing); the rest of federation lands in its own issue."""

from __future__ import annotations

from aiohttp import web

from federation.routes import openid
from homeserver import short_tokens


def setup_federation(app: web.Application) -> None:
    # The OpenID and login tokens live in memory for now; the composition root will create
    # them (with the rest of the core) once they have a table.
    short_tokens.install(app)
    app.router.add_routes(openid.routes)
