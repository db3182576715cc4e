"""URL previews (spec: GET /media/preview_url): OpenGraph data of a page, its image kept in the
media repository and named by an mxc:// URI. Fetching goes through the SSRF guard in fetch.py."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from homeserver.config import UrlPreview
from homeserver.errors import Forbidden, InvalidParam, Unrecognized
from homeserver.lru import Lru
from homeserver.media.fetch import AddressGuard, Fetched, FetchFailed, GuardedFetcher

MAX_URL_LENGTH = 2048
MAX_TAGS = 50
MAX_VALUE_CHARS = 1000
CACHE_ENTRIES = 1000
CACHE_TTL_S = 3600.0
HTML_TYPES = ("text/html", "application/xhtml+xml")

# Keeps image bytes (content type, on behalf of a user); returns the mxc:// URI.
StoreImage = Callable[[bytes, str, str], Awaitable[str]]


class OpenGraphParser(HTMLParser):
    """Collects og:* meta tags, the <title> and the description meta tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og: dict[str, str] = {}
        self.title: str | None = None
        self.description: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None:
            self._in_title = True
        if tag != "meta":
            return
        values = dict(attrs)
        key = values.get("property") or values.get("name") or ""
        content = values.get("content")
        if content is None:
            return
        if key.startswith("og:") and len(self.og) < MAX_TAGS and key not in self.og:
            self.og[key[:100]] = content[:MAX_VALUE_CHARS]
        elif key.lower() == "description" and self.description is None:
            self.description = content[:MAX_VALUE_CHARS]

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False


def parse_opengraph(html: str) -> dict[str, Any]:
    """OpenGraph data of a page: og:title falls back to <title>, og:description to the
    description meta tag; og:image:width/height become integers when they are."""
    parser = OpenGraphParser()
    parser.feed(html)
    parser.close()
    og: dict[str, Any] = dict(parser.og)
    if "og:title" not in og and parser.title and parser.title.strip():
        og["og:title"] = parser.title.strip()[:MAX_VALUE_CHARS]
    if "og:description" not in og and parser.description:
        og["og:description"] = parser.description
    for key in ("og:image:width", "og:image:height"):
        value = og.pop(key, None)
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
            og[key] = int(value)
    return og


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParam("'url' must be an http or https URL")
    return url


class UrlPreviewer:
    def __init__(self, config: UrlPreview, image_limit: int, store_image: StoreImage) -> None:
        self._config = config
        self._fetcher = GuardedFetcher(AddressGuard(config.ip_allowlist), config.timeout_s)
        self._image_limit = min(image_limit, config.max_page_bytes)
        self._store_image = store_image
        self._cache: Lru[str, tuple[float, dict[str, Any]]] = Lru(CACHE_ENTRIES)

    async def preview(self, url: str, user_id: str) -> dict[str, Any]:
        if not self._config.enabled:
            raise Unrecognized("URL previews are disabled on this server")
        check_url(url)
        cached = self._cache.get(url)
        if cached is not None and time.monotonic() - cached[0] < CACHE_TTL_S:
            return cached[1]
        page = await self._fetcher.fetch(url, self._config.max_page_bytes)
        result = await self._describe(page, user_id)
        self._cache.put(url, (time.monotonic(), result))
        return result

    async def _describe(self, page: Fetched, user_id: str) -> dict[str, Any]:
        if page.content_type.startswith("image/"):
            return await self._image(page, user_id)
        if page.content_type not in HTML_TYPES:
            return {}
        og = parse_opengraph(page.body.decode(_charset(page), errors="replace"))
        image_url = og.pop("og:image", None)
        if isinstance(image_url, str) and image_url:
            try:
                image = await self._fetcher.fetch(urljoin(page.url, image_url), self._image_limit)
            except (FetchFailed, Forbidden):
                image = None  # the page's preview is still worth giving
            if image is not None and image.content_type.startswith("image/"):
                og.update(await self._image(image, user_id))
        return og

    async def _image(self, image: Fetched, user_id: str) -> dict[str, Any]:
        if len(image.body) > self._image_limit:
            return {}
        mxc = await self._store_image(image.body, image.content_type, user_id)
        return {"og:image": mxc, "og:image:type": image.content_type, "matrix:image:size": len(image.body)}


def _charset(page: Fetched) -> str:
    charset = page.charset or "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"
    return charset
