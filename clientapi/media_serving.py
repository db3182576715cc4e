"""Serving media safely (spec: "Serving inline content"): `inline` only for content types that
cannot run script, `attachment` otherwise; a sandboxing Content-Security-Policy, no sniffing,
and a Content-Disposition file name that cannot break the header. Range requests, ETags and
conditional requests come from aiohttp's FileResponse."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

INLINE_TYPES = frozenset(
    {
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    }
)
# The spec's recommended policy (spec: "Content repository"), as Synapse sends it.
CSP = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)
MAX_NAME_CHARS = 255


def file_response(
    path: Path, content_type: str, filename: str | None, *, inline_allowed: bool
) -> web.FileResponse:
    headers = {
        "Content-Type": content_type,
        "Content-Disposition": content_disposition(content_type, filename, inline_allowed=inline_allowed),
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Cache-Control": "private, max-age=86400",
    }
    return web.FileResponse(path, headers=headers)


def content_disposition(content_type: str, filename: str | None, *, inline_allowed: bool = True) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    kind = "inline" if inline_allowed and base in INLINE_TYPES else "attachment"
    name = sanitise_filename(filename) if filename else ""
    if not name:
        return kind
    if name.isascii():
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'{kind}; filename="{escaped}"'
    return f"{kind}; filename*=utf-8''{quote(name, safe='')}"


def sanitise_filename(name: str) -> str:
    """The name without control or format characters (no header injection, no bidi tricks)
    and without path separators, at most MAX_NAME_CHARS long."""
    kept = (
        "_" if ch in "/\\" else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    )
    return "".join(kept)[:MAX_NAME_CHARS].strip()
