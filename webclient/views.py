"""The bundled web client: the page shell, its static ES modules, the web app manifest and the
service worker. The client talks to the server only through the public client API."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from homeserver.appkeys import CONFIG

HERE = Path(__file__).parent
STATIC = HERE / "static"
routes = web.RouteTableDef()
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


@routes.get("/")
@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, str]:
    return {"server_name": request.app[CONFIG].server_name}


@routes.get("/sw.js")
async def service_worker(request: web.Request) -> web.FileResponse:
    # Served from the root so that its scope covers the page at /.
    response = web.FileResponse(STATIC / "sw.js", headers={"Cache-Control": "no-cache"})
    response.content_type = "text/javascript"
    return response


@routes.get("/manifest.webmanifest")
async def manifest(request: web.Request) -> web.FileResponse:
    response = web.FileResponse(STATIC / "manifest.webmanifest")
    response.content_type = "application/manifest+json"
    return response


def content_security_policy(host: str) -> str:
    """No inline script or style anywhere; the only connections are back to this server
    (its WebSocket sync included, which some browsers do not count as 'self')."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self'{sockets}; manifest-src 'self'; worker-src 'self'; font-src 'self'; "
        "media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith("/_matrix/"):
        host = request.headers.get("Host", "")
        response.headers.setdefault("Content-Security-Policy", content_security_policy(host))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")


def setup_webclient(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.router.add_routes(routes)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    app.on_response_prepare.append(_security_headers)
