"""Sharing files in the web client: an image shows inline (fetched with the access token, as
a blob), audio and video get players that play, any other file a download link that can never
open as a page."""

from __future__ import annotations

import asyncio
import io
import re
import wave

import pytest
from PIL import Image
from playwright.async_api import FilePayload, Locator, Route, expect

from tests.webclient.conftest import MakePerson

pytestmark = pytest.mark.asyncio(loop_scope="module")


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (42, 111, 151)).save(out, "PNG")
    return out.getvalue()


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 8000)  # one second
    return out.getvalue()


async def test_share_image_audio_and_file(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Photos", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Photos")
    await bob.open_room("Photos")
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await alice.page.route(re.compile(r".*/_matrix/media/v3/upload.*"), hold)
    fetched: list[str] = []
    bob.page.on("request", lambda r: fetched.append(r.url) if "/_matrix/client/v1/media/" in r.url else None)
    await alice.page.set_input_files(
        "#composer-file",
        files=[
            FilePayload(name="sky.png", mimeType="image/png", buffer=png(320, 200)),
            FilePayload(name="beep.wav", mimeType="audio/wav", buffer=wav()),
            FilePayload(name="page.html", mimeType="text/html", buffer=b"<script>window.__xss=1</script>"),
        ],
    )
    # The first upload waits on the way: its progress bar shows meanwhile.
    await expect(alice.page.get_by_label("Uploading sky.png")).to_be_visible()
    release.set()
    image = bob.page.locator(".message .media img[alt='sky.png']")
    await expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    await bob.page.wait_for_function("() => document.querySelector('.media img').naturalWidth > 0")
    assert await image.evaluate("img => img.naturalWidth") == 320
    await expect(image).to_have_attribute("width", "320")
    assert [u for u in fetched if "/thumbnail/" in u and "width=800&height=600" in u]  # a thumbnail, inline

    audio = bob.page.locator(".message .media audio")
    await expect(audio).to_have_attribute("src", re.compile(r"^blob:"))
    await expect(audio).to_have_attribute("aria-label", "beep.wav")
    await bob.page.wait_for_function("() => document.querySelector('.media audio').duration > 0.9")
    await plays(audio)

    link = bob.page.locator(".message a.file", has_text="page.html")
    await expect(link).to_have_attribute("href", re.compile(r"^blob:"))
    await expect(link).to_have_attribute("download", "page.html")
    async with bob.page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "page.html"
    assert (await download.path()).read_bytes() == b"<script>window.__xss=1</script>"
    await expect(alice.page.locator(".uploads li")).to_have_count(0)

    sent = (await bob.client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "10"}))["chunk"]
    kinds = {e["content"].get("body"): e["content"]["msgtype"] for e in sent if e["type"] == "m.room.message"}
    assert kinds == {"sky.png": "m.image", "beep.wav": "m.audio", "page.html": "m.file"}
    info = next(e["content"]["info"] for e in sent if e["content"].get("body") == "sky.png")
    assert info == {"mimetype": "image/png", "size": len(png(320, 200)), "w": 320, "h": 200}
    assert await bob.page.evaluate("window.__xss === undefined")


async def plays(player: Locator) -> None:
    """The player has controls and, started (muted, as autoplay rules allow), moves on."""
    await expect(player).to_have_attribute("controls", "")
    await player.evaluate("p => { p.muted = true; return p.play(); }")
    await player.page.wait_for_function(
        "p => p.currentTime > 0 && !p.paused", arg=await player.element_handle()
    )


# A short VP8 clip, recorded by the browser itself (no encoder needed on the machine).
RECORD_WEBM = """async () => {
  const canvas = Object.assign(document.createElement("canvas"), { width: 64, height: 48 });
  document.body.append(canvas);
  const ctx = canvas.getContext("2d");
  const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: "video/webm;codecs=vp8" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start();
  for (let i = 0; i < 30; i++) {
    ctx.fillStyle = i % 2 ? "#2a6f97" : "#f4a261";
    ctx.fillRect(0, 0, 64, 48);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  return Array.from(bytes);
}"""


async def test_share_video_plays_inline(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Movies", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Movies")
    await bob.open_room("Movies")
    scratch = await alice.context.new_page()
    clip = bytes(await scratch.evaluate(RECORD_WEBM))
    await scratch.close()
    await alice.page.set_input_files(
        "#composer-file", files=[FilePayload(name="clip.webm", mimeType="video/webm", buffer=clip)]
    )
    video = bob.page.locator(".message .media video")
    await expect(video).to_have_attribute("src", re.compile(r"^blob:"))
    await expect(video).to_have_attribute("aria-label", "clip.webm")
    await bob.page.wait_for_function("() => document.querySelector('.media video').videoWidth === 64")
    await plays(video)
    await expect(bob.page.locator(".message a.file", has_text="clip.webm")).to_have_attribute(
        "download", "clip.webm"
    )
    sent = (await bob.client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "5"}))["chunk"]
    content = next(e["content"] for e in sent if e["type"] == "m.room.message")
    assert content["msgtype"] == "m.video"
    assert content["info"] == {"mimetype": "video/webm", "size": len(clip)}


async def test_profile_and_room_pictures_and_presence(person: MakePerson) -> None:
    alice, bob = await person("alice"), await person("bob")
    room = (await alice.client.post("/createRoom", {"name": "Portraits", "preset": "public_chat"}))["room_id"]
    await bob.client.post(f"/join/{room}")
    await alice.open_room("Portraits")
    await bob.open_room("Portraits")
    await bob.say("say cheese")
    await bob.page.get_by_role("button", name="Profile").click()
    await bob.page.get_by_label("Profile picture").set_input_files(
        FilePayload(name="me.png", mimeType="image/png", buffer=png(96, 96))
    )
    await expect(bob.page.locator(".toast")).to_have_text("Profile picture saved.")
    await bob.page.get_by_role("button", name="Close").click()
    picture = alice.page.locator(".message", has_text="say cheese").locator(".avatar img")
    await expect(picture).to_have_attribute("src", re.compile(r"^blob:"))
    profile = await alice.client.get(f"/profile/{bob.user_id}")
    assert profile["avatar_url"].startswith("mxc://")

    await alice.page.get_by_role("button", name="Settings").click()
    await alice.page.get_by_label("Room picture").set_input_files(
        FilePayload(name="room.png", mimeType="image/png", buffer=png(64, 64))
    )
    room_picture = bob.page.locator(".room-list .room", has_text="Portraits").locator(".avatar img")
    await expect(room_picture).to_have_attribute("src", re.compile(r"^blob:"))
    avatar = await bob.client.get(f"/rooms/{room}/state/m.room.avatar/")
    assert avatar["url"].startswith("mxc://")
    await alice.page.get_by_role("button", name="Close").click()

    # Both are syncing, so each shows as online in the other's member list.
    await alice.page.get_by_role("button", name="Members").click()
    await expect(
        alice.page.locator(".members li", has_text=bob.user_id).locator(".presence")
    ).to_have_attribute("aria-label", "online")
