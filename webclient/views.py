"""The bundled web client. For now a placeholder page; it talks only to the public client API."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from homeserver.appkeys import CONFIG

HERE = Path(__file__).parent
routes = web.RouteTableDef()


@routes.get("/")
@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, str]:
    return {"server_name": request.app[CONFIG].server_name}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith("/_matrix/"):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")


def setup_webclient(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.router.add_routes(routes)
    app.router.add_static("/static/", HERE / "static", follow_symlinks=False)
    app.on_response_prepare.append(_security_headers)
