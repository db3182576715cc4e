"""Mounts the Client-Server API on an application: middleware, routes, r0 aliases."""

from __future__ import annotations

from aiohttp import web

from clientapi import middleware, ws
from clientapi.routes import (
    account,
    account_data,
    context,
    devices,
    directory,
    key_backup,
    keys,
    login,
    media,
    membership,
    mutual_rooms,
    notifications,
    openid,
    presence,
    profile,
    push_rules,
    receipts,
    register,
    relations,
    reporting,
    room_summary,
    rooms,
    search,
    spaces,
    sync,
    thirdparty,
    to_device,
    typing,
    upgrade,
    user_directory,
    versions,
    voip,
)

ROUTE_TABLES = (
    versions.routes,
    register.routes,
    login.routes,
    account.routes,
    devices.routes,
    rooms.routes,
    membership.routes,
    account_data.routes,
    context.routes,
    reporting.routes,
    relations.routes,
    directory.routes,
    spaces.routes,
    profile.routes,
    user_directory.routes,
    search.routes,
    sync.routes,
    receipts.routes,
    typing.routes,
    presence.routes,
    to_device.routes,
    push_rules.routes,
    notifications.routes,
    keys.routes,
    key_backup.routes,
    media.routes,
    thirdparty.routes,
    voip.routes,
    upgrade.routes,
    openid.routes,
    room_summary.routes,
    mutual_rooms.routes,
)
V3 = "/_matrix/client/v3/"
R0 = "/_matrix/client/r0/"
# Added after r0: these answer under v3 only.
V3_ONLY = {"/_matrix/client/v3/refresh"}
# Also under /_matrix/client/unstable/, as Synapse serves them: Element (matrix-js-sdk's
# uploadDeviceSigningKeys) asks there which UIA flows a cross-signing upload needs.
UNSTABLE = "/_matrix/client/unstable/"
UNSTABLE_TOO = {"/_matrix/client/v3/keys/device_signing/upload", "/_matrix/client/v3/keys/signatures/upload"}


def setup_client_api(app: web.Application) -> None:
    middleware.install(app)
    ws.install(app)
    for table in ROUTE_TABLES:
        for route in table:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, route.path, route.handler, **route.kwargs)
            if route.path.startswith(V3) and route.path not in V3_ONLY:
                app.router.add_route(route.method, R0 + route.path[len(V3) :], route.handler, **route.kwargs)
            if route.path in UNSTABLE_TOO:
                unstable = UNSTABLE + route.path[len(V3) :]
                app.router.add_route(route.method, unstable, route.handler, **route.kwargs)
