"""Device management (spec: "Device management")."""

from __future__ import annotations

from aiohttp import web

from clientapi.middleware import requester
from clientapi.request import field, read_json, string_list
from clientapi.responses import json_response
from homeserver.accounts import MAX_DEVICE_ID_LENGTH
from homeserver.appkeys import ACCOUNTS, DEVICE_LISTS, DEVICES, UIA
from homeserver.errors import InvalidParam, NotFound
from homeserver.ids import DeviceID
from homeserver.storage.devices import Device
from homeserver.uia import PASSWORD

routes = web.RouteTableDef()
MAX_DEVICE_NAME = 256


def device_json(device: Device) -> dict[str, object]:
    return {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_ip": device.last_seen_ip,
    }


def _path_device_id(request: web.Request) -> DeviceID:
    """The device ID in the path; one that no device can have is simply not found."""
    device_id = request.match_info["device_id"]
    if len(device_id) > MAX_DEVICE_ID_LENGTH or "\x00" in device_id:
        raise NotFound("No such device")
    return DeviceID(device_id)


@routes.get("/_matrix/client/v3/devices")
async def list_devices(request: web.Request) -> web.Response:
    devices = await request.app[DEVICES].list_for(requester(request).user_id)
    return json_response({"devices": [device_json(d) for d in devices]})


@routes.get("/_matrix/client/v3/devices/{device_id}")
async def get_device(request: web.Request) -> web.Response:
    device = await request.app[DEVICES].get(requester(request).user_id, _path_device_id(request))
    if device is None:
        raise NotFound("No such device")
    return json_response(device_json(device))


@routes.put("/_matrix/client/v3/devices/{device_id}")
async def update_device(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = field(body, "display_name", str)
    who = requester(request)
    device_id = _path_device_id(request)
    devices = request.app[DEVICES]
    if name is None:  # the spec: "If not given, the display name is unchanged."
        if await devices.get(who.user_id, device_id) is None:
            raise NotFound("No such device")
        return json_response({})
    if "\x00" in name:
        raise InvalidParam("display_name contains a NUL character")
    if not await devices.set_display_name(who.user_id, device_id, name[:MAX_DEVICE_NAME]):
        raise NotFound("No such device")
    await request.app[DEVICE_LISTS].changed(who.user_id)  # the name is part of the device list
    return json_response({})


@routes.delete("/_matrix/client/v3/devices/{device_id}")
async def delete_device(request: web.Request) -> web.Response:
    who = requester(request)
    body = await read_json(request)
    device_id = _path_device_id(request)
    if await request.app[DEVICES].get(who.user_id, device_id) is None:
        raise NotFound("No such device")
    await _delete_with_uia(request, body, [device_id])
    return json_response({})


@routes.post("/_matrix/client/v3/delete_devices")
async def delete_devices(request: web.Request) -> web.Response:
    body = await read_json(request)
    device_ids = string_list(body, "devices")
    await _delete_with_uia(request, body, device_ids)
    return json_response({})


async def _delete_with_uia(request: web.Request, body: dict[str, object], device_ids: list[str]) -> None:
    who = requester(request)
    uia = request.app[UIA]
    done = await uia.authenticate(
        method=request.method, uri=request.path, body=body, flows=[[PASSWORD]], user_id=who.user_id
    )
    await request.app[ACCOUNTS].delete_devices(who.user_id, device_ids)
    await uia.finish(done.session_id)
