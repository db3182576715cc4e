"""Mounts the Server-Server API. Nothing is served yet: federation lands in its own issue."""

from __future__ import annotations

from aiohttp import web


def setup_federation(app: web.Application) -> None:
    del app
