"""Content repository (spec: "Content repository"): uploads under /_matrix/media, downloads,
thumbnails, URL previews and the config under /_matrix/client/v1/media (authenticated), and
the deprecated unauthenticated /_matrix/media/v3 downloads, frozen as the config says.

These paths are not under /_matrix/client/v3, so the r0 aliasing in clientapi/app.py leaves
them alone; the /_matrix/media/r0 spellings older clients use are listed here."""

from __future__ import annotations

import re

from aiohttp import web

from clientapi.media_serving import file_response
from clientapi.middleware import guest_allowed, public, requester
from clientapi.responses import json_response
from homeserver.appkeys import MEDIA
from homeserver.errors import InvalidParam, MissingParam
from homeserver.media.service import Upload

routes = web.RouteTableDef()
CHUNK = 64 * 1024
MAX_DIMENSION = 100_000
INTEGER = re.compile(r"[0-9]{1,15}")
LEGACY_MEDIA = ("/_matrix/media/v3", "/_matrix/media/r0")
CLIENT_MEDIA = "/_matrix/client/v1/media"
DOWNLOAD = "/download/{server_name}/{media_id}"
THUMBNAIL = "/thumbnail/{server_name}/{media_id}"


def _upload(request: web.Request) -> Upload:
    """The body as a stream of chunks. Reading `request.content` directly skips aiohttp's
    client_max_size (max_request_body_bytes, applied by request.read() for JSON bodies): the
    media service applies media.max_upload_size while the chunks go to disk instead."""
    return Upload(
        chunks=request.content.iter_chunked(CHUNK),
        declared_length=request.content_length,
        content_type=request.headers.get("Content-Type"),
        filename=request.query.get("filename"),
    )


async def upload(request: web.Request) -> web.Response:
    content_uri = await request.app[MEDIA].upload(requester(request).user_id, _upload(request))
    return json_response({"content_uri": content_uri})


for _prefix in LEGACY_MEDIA:
    routes.post(_prefix + "/upload")(upload)


@routes.put("/_matrix/media/v3/upload/{server_name}/{media_id}")
async def upload_to(request: web.Request) -> web.Response:
    server_name, media_id = request.match_info["server_name"], request.match_info["media_id"]
    await request.app[MEDIA].upload_to(requester(request).user_id, server_name, media_id, _upload(request))
    return json_response({})


@routes.post("/_matrix/media/v1/create")
async def create(request: web.Request) -> web.Response:
    content_uri, expires = await request.app[MEDIA].create(requester(request).user_id)
    return json_response({"content_uri": content_uri, "unused_expires_at": expires})


async def media_config(request: web.Request) -> web.Response:
    return json_response({"m.upload.size": request.app[MEDIA].max_upload_size})


@guest_allowed  # spec: "Guest access" lists the authenticated download and thumbnail
async def download(request: web.Request) -> web.StreamResponse:
    return await _download(request, legacy=False)


@guest_allowed
async def thumbnail(request: web.Request) -> web.StreamResponse:
    return await _thumbnail(request, legacy=False)


@public
async def legacy_download(request: web.Request) -> web.StreamResponse:
    return await _download(request, legacy=True)


@public
async def legacy_thumbnail(request: web.Request) -> web.StreamResponse:
    return await _thumbnail(request, legacy=True)


async def preview_url(request: web.Request) -> web.Response:
    url = request.query.get("url")
    if url is None:
        raise MissingParam("Missing query parameter 'url'")
    _optional_int(request, "ts")
    return json_response(await request.app[MEDIA].preview(requester(request).user_id, url))


routes.get(CLIENT_MEDIA + "/config")(media_config)
routes.get(CLIENT_MEDIA + DOWNLOAD)(download)
routes.get(CLIENT_MEDIA + DOWNLOAD + "/{file_name}")(download)
routes.get(CLIENT_MEDIA + THUMBNAIL)(thumbnail)
routes.get(CLIENT_MEDIA + "/preview_url")(preview_url)
for _prefix in LEGACY_MEDIA:
    routes.get(_prefix + "/config")(media_config)
    routes.get(_prefix + "/preview_url")(preview_url)
    routes.get(_prefix + DOWNLOAD)(legacy_download)
    routes.get(_prefix + DOWNLOAD + "/{file_name}")(legacy_download)
    routes.get(_prefix + THUMBNAIL)(legacy_thumbnail)


async def _download(request: web.Request, *, legacy: bool) -> web.StreamResponse:
    served = await request.app[MEDIA].download(
        request.match_info["server_name"],
        request.match_info["media_id"],
        _optional_int(request, "timeout_ms"),
        legacy=legacy,
    )
    name = request.match_info.get("file_name", served.filename)
    return file_response(served.path, served.content_type, name, inline_allowed=True)


async def _thumbnail(request: web.Request, *, legacy: bool) -> web.StreamResponse:
    width, height = _dimension(request, "width"), _dimension(request, "height")
    method = request.query.get("method", "scale")
    if method not in ("crop", "scale"):
        raise InvalidParam("'method' must be 'crop' or 'scale'")
    served = await request.app[MEDIA].thumbnail(
        request.match_info["server_name"],
        request.match_info["media_id"],
        (width, height),
        method,
        _boolean(request, "animated"),
        _optional_int(request, "timeout_ms"),
        legacy=legacy,
    )
    return file_response(served.path, served.content_type, served.filename, inline_allowed=True)


def _dimension(request: web.Request, name: str) -> int:
    value = _optional_int(request, name)
    if value is None:
        raise MissingParam(f"Missing query parameter '{name}'")
    if not 0 < value <= MAX_DIMENSION:
        raise InvalidParam(f"'{name}' must be between 1 and {MAX_DIMENSION}")
    return value


def _optional_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not INTEGER.fullmatch(raw):
        raise InvalidParam(f"'{name}' must be a non-negative integer")
    return int(raw)


def _boolean(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false")
    if raw not in ("true", "false"):
        raise InvalidParam(f"'{name}' must be 'true' or 'false'")
    return raw == "true"
