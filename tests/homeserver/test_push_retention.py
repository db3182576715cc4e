"""Old notifications: the retention option (config file, checked), the sweep wired into the
app deleting a user's own read notifications (here: mentions nobody else is notified of) past
the period while GET /notifications keeps paging over what is left, unread ones (the unread
counts) kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from homeserver import appkeys as K
from homeserver.config import ConfigError, load_config
from homeserver.push.retention import DAY_MS, PushRetention
from homeserver.storage.push import PushActionStore
from tests.clientapi.test_notifications import _counts, _room, _send
from tests.helpers import HomeserverUnderTest


def test_retention_option_defaults_to_30_days_and_is_checked(tmp_path: Path) -> None:
    assert load_config(None, env={}).push_actions_retention_days == 30
    path = tmp_path / "homeserver.yaml"
    path.write_text("push_actions_retention_days: 7\n")
    assert load_config(path, env={}).push_actions_retention_days == 7
    for bad in ("0", "-1", "36501", "'7'", "true", "1.5", "[]"):
        path.write_text(f"push_actions_retention_days: {bad}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        assert "push_actions_retention_days" in str(caught.value)


async def test_sweep_deletes_read_notifications_past_the_period_and_paging_goes_on(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob, room = await _room(hs)
    for name in ("carol", "dave"):  # mentions only: what notifies bob notifies him alone
        other = await hs.register(name)
        await other.post(f"/join/{room}")
        await other.put(f"/pushrules/global/room/{room}", {"actions": []})
    mentions = {"m.mentions": {"user_ids": [bob.user_id]}}
    sent = [await _send(alice, room, f"message {i}", **mentions) for i in range(5)]
    await bob.post(f"/rooms/{room}/receipt/m.read/{sent[2]}", {})  # 0..2 read, 3..4 unread
    page = await bob.get("/notifications", params={"limit": "2"})
    assert [n["event"]["event_id"] for n in page["notifications"]] == [sent[4], sent[3]]
    assert await hs.app[K.PUSH_RETENTION].sweep() == 0  # all of them are new
    days = hs.app[K.CONFIG].push_actions_retention_days
    later = PushRetention(
        PushActionStore(hs.app[K.DATABASE]), days, clock=lambda: (_now_ms() + days * DAY_MS + 1000) / 1000
    )
    assert await later.sweep() == 3
    rest = await bob.get("/notifications", params={"from": page["next_token"]})
    assert rest["notifications"] == [] and "next_token" not in rest
    everything = await bob.get("/notifications")
    assert [n["event"]["event_id"] for n in everything["notifications"]] == [sent[4], sent[3]]
    assert [n["read"] for n in everything["notifications"]] == [False, False]
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 2


def _now_ms() -> int:
    return int(time.time() * 1000)
