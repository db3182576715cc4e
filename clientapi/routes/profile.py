"""Profiles (spec: "Profiles"): GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}.

This server keeps `displayname` and `avatar_url`; other keys of the spec's grammar (m.tz,
custom namespaced keys) are not stored: reading one finds nothing, setting one is refused."""

from __future__ import annotations

import re

from aiohttp import web

from clientapi.middleware import guest_allowed, public, requester
from clientapi.request import read_json
from clientapi.responses import json_response
from homeserver.appkeys import PROFILE_SERVICE
from homeserver.errors import (
    Forbidden,
    GuestAccessForbidden,
    InvalidParam,
    MatrixError,
    MissingParam,
    NotFound,
)
from homeserver.ids import UserID, is_valid_user_id
from homeserver.storage.users import Profile

routes = web.RouteTableDef()
PROFILE = "/_matrix/client/v3/profile/{user_id}"
FIELD = PROFILE + "/{key_name}"
KNOWN_KEYS = ("displayname", "avatar_url")
KEY_GRAMMAR = re.compile(r"avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
MAX_KEY_BYTES = 255


class KeyTooLarge(MatrixError):
    status, errcode = 400, "M_KEY_TOO_LARGE"


def _user_id(request: web.Request) -> UserID:
    value = request.match_info["user_id"]
    if not is_valid_user_id(value, historical=True):
        raise InvalidParam("Invalid user ID")
    return UserID(value)


def _key(request: web.Request) -> str:
    key = request.match_info["key_name"]
    if len(key.encode()) > MAX_KEY_BYTES:
        raise KeyTooLarge("Profile key is too long")
    if not KEY_GRAMMAR.fullmatch(key):
        raise InvalidParam("Invalid profile key")
    return key


def _own(request: web.Request, key: str) -> UserID:
    """The path's user, who must be the requester (guests may change only their display name)."""
    user_id = _user_id(request)
    who = requester(request)
    if user_id != who.user_id:
        raise Forbidden("You may only change your own profile")
    if who.is_guest and key != "displayname":
        raise GuestAccessForbidden("Guests may only change their display name")
    return user_id


def _fields(profile: Profile) -> dict[str, str]:
    out = {"displayname": profile.displayname, "avatar_url": profile.avatar_url}
    return {key: value for key, value in out.items() if value is not None}


@routes.get(PROFILE)
@public
async def get_profile(request: web.Request) -> web.Response:
    fields = _fields(await request.app[PROFILE_SERVICE].get(_user_id(request)))
    if not fields:
        raise NotFound("Profile not found")
    return json_response(fields)


@routes.get(FIELD)
@public
async def get_field(request: web.Request) -> web.Response:
    user_id, key = _user_id(request), _key(request)
    value = _fields(await request.app[PROFILE_SERVICE].get(user_id)).get(key)
    if value is None:
        raise NotFound(f"The user has no {key}")
    return json_response({key: value})


@routes.put(FIELD)
@guest_allowed
async def set_field(request: web.Request) -> web.Response:
    key = _key(request)
    user_id = _own(request, key)
    body = await read_json(request)
    if key not in KNOWN_KEYS:
        raise Forbidden(f"This server does not store the profile field {key}")
    if key not in body:
        raise MissingParam(f"Missing key '{key}'")
    value = body[key]
    if not isinstance(value, str):
        raise InvalidParam(f"'{key}' must be a string")
    await _set(request, user_id, key, value)
    return json_response({})


@routes.delete(FIELD)
@guest_allowed
async def delete_field(request: web.Request) -> web.Response:
    key = _key(request)
    user_id = _own(request, key)
    if key in KNOWN_KEYS:
        await _set(request, user_id, key, "")
    return json_response({})


async def _set(request: web.Request, user_id: UserID, key: str, value: str) -> None:
    profiles = request.app[PROFILE_SERVICE]
    if key == "displayname":
        await profiles.set_displayname(user_id, value)
    else:
        await profiles.set_avatar_url(user_id, value)
