"""matrix-nio, a real third-party client, shares an image: alice uploads it and sends an
m.image event, bob reads the event and downloads the image and a thumbnail through nio (which
uses the authenticated /_matrix/client/v1/media endpoints)."""

from __future__ import annotations

import io

from nio import (
    AsyncClient,
    DownloadError,
    JoinResponse,
    MemoryDownloadResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomMessageImage,
    RoomMessagesResponse,
    RoomSendResponse,
    ThumbnailResponse,
    UploadResponse,
)
from nio.crypto.attachments import decrypt_attachment
from PIL import Image

from tests.clientapi.media_helpers import image_bytes
from tests.helpers import HomeserverUnderTest
from tests.interop.nio_helpers import registered


async def shared_room(alice: AsyncClient, bob: AsyncClient) -> str:
    created = await alice.room_create(invite=[bob.user_id])
    assert isinstance(created, RoomCreateResponse), created
    joined = await bob.join(created.room_id)
    assert isinstance(joined, JoinResponse), joined
    return created.room_id


async def test_image_message_round_trip(hs: HomeserverUnderTest, nio_clients: list[AsyncClient]) -> None:
    alice = await registered(hs, nio_clients, "alice")
    bob = await registered(hs, nio_clients, "bob")
    room_id = await shared_room(alice, bob)

    photo = image_bytes((640, 480), "JPEG", color="orange")
    uploaded, keys = await alice.upload(
        io.BytesIO(photo), content_type="image/jpeg", filename="sunset.jpg", filesize=len(photo)
    )
    assert isinstance(uploaded, UploadResponse), uploaded
    assert keys is None
    content = {
        "msgtype": "m.image",
        "body": "sunset.jpg",
        "url": uploaded.content_uri,
        "info": {"mimetype": "image/jpeg", "size": len(photo), "w": 640, "h": 480},
    }
    sent = await alice.room_send(room_id, "m.room.message", content)
    assert isinstance(sent, RoomSendResponse), sent

    page = await bob.room_messages(room_id, direction=MessageDirection.back, limit=10)
    assert isinstance(page, RoomMessagesResponse), page
    images = [e for e in page.chunk if isinstance(e, RoomMessageImage)]
    assert [(e.sender, e.url, e.body) for e in images] == [
        (alice.user_id, uploaded.content_uri, "sunset.jpg")
    ]

    downloaded = await bob.download(images[0].url)
    assert isinstance(downloaded, MemoryDownloadResponse), downloaded
    assert downloaded.body == photo
    assert downloaded.content_type == "image/jpeg"
    assert downloaded.filename == "sunset.jpg"

    server_name, media_id = uploaded.content_uri[len("mxc://") :].split("/")
    thumb = await bob.thumbnail(server_name, media_id, 96, 96)
    assert isinstance(thumb, ThumbnailResponse), thumb
    assert thumb.content_type == "image/jpeg"
    with Image.open(io.BytesIO(thumb.body)) as image:
        assert image.size == (96, 72)  # "scale": fits the box, the client letterboxes

    missing = await bob.download(f"mxc://{server_name}/noSuchMedia")
    assert isinstance(missing, DownloadError) and missing.status_code == "M_NOT_FOUND"


async def test_encrypted_attachment(hs: HomeserverUnderTest, nio_clients: list[AsyncClient]) -> None:
    """An end-to-end encrypted attachment is opaque bytes to the server, stored and served as is."""
    alice = await registered(hs, nio_clients, "alice")
    bob = await registered(hs, nio_clients, "bob")
    secret = image_bytes((32, 32))
    uploaded, keys = await alice.upload(
        io.BytesIO(secret), content_type="image/png", encrypt=True, filesize=len(secret)
    )
    assert isinstance(uploaded, UploadResponse), uploaded
    assert keys is not None
    downloaded = await bob.download(uploaded.content_uri)
    assert isinstance(downloaded, MemoryDownloadResponse), downloaded
    assert downloaded.body != secret
    plain = decrypt_attachment(downloaded.body, keys["key"]["k"], keys["hashes"]["sha256"], keys["iv"])
    assert plain == secret
