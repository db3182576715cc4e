"""Mounts the Server-Server API. Only OpenID userinfo is served yet (it needs no request
signing); the rest of federation lands in its own issue."""

from __future__ import annotations

from aiohttp import web

from federation.routes import openid


def setup_federation(app: web.Application) -> None:
    app.router.add_routes(openid.routes)
