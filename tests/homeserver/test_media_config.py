"""The media section of the config: defaults, YAML, and one-line errors for bad values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from homeserver.config import Config, Media, UrlPreview, config_as_dict, load_config
from tests.homeserver.test_config import config_error, write


def test_defaults() -> None:
    media = load_config(None, env={}).media
    assert media.max_upload_size == 50 * 1024 * 1024
    assert media.legacy_frozen and media.legacy_frozen_after_ms == 0
    assert media.unused_expiry_ms == 24 * 3600 * 1000
    assert not media.url_preview.enabled and media.url_preview.ip_allowlist == ()
    assert load_config(None, env={}).rate_limits.media_upload.burst >= 1


def test_media_from_yaml(tmp_path: Path) -> None:
    text = """
media:
  max_upload_size: 1000
  legacy_frozen: false
  url_preview:
    enabled: true
    ip_allowlist: ["192.168.10.0/24", "fd00::/8"]
rate_limits:
  media_upload: {per_second: 2, burst: 5}
"""
    config = load_config(write(tmp_path, text), env={})
    assert config.media.max_upload_size == 1000 and not config.media.legacy_frozen
    assert config.media.url_preview == UrlPreview(enabled=True, ip_allowlist=("192.168.10.0/24", "fd00::/8"))
    assert config.rate_limits.media_upload.burst == 5


def test_round_trip_with_an_allowlist(tmp_path: Path) -> None:
    media = Media(url_preview=UrlPreview(enabled=True, ip_allowlist=("10.1.0.0/16",)))
    original = dataclasses.replace(Config(), media=media)
    assert load_config(write(tmp_path, yaml.safe_dump(config_as_dict(original))), env={}) == original


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("media:\n  max_upload_size: 0\n", "media.max_upload_size"),
        ("media:\n  max_upload_size: big\n", "media.max_upload_size"),
        ("media:\n  max_pending_uploads: -1\n", "media.max_pending_uploads"),
        ("media:\n  thumbnail_timeout_s: 0\n", "thumbnail_timeout_s"),
        ("media:\n  url_preview:\n    ip_allowlist: 10.0.0.0/8\n", "media.url_preview.ip_allowlist"),
        ("media:\n  url_preview:\n    ip_allowlist: [not-a-network]\n", "not-a-network"),
        ("media:\n  url_preview:\n    ip_allowlist: [10]\n", "media.url_preview.ip_allowlist[0]"),
        ("media:\n  url_preview:\n    max_page_bytes: 10\n", "media.url_preview.max_page_bytes"),
        ("media:\n  thumbnails: true\n", "media.thumbnails"),
    ],
)
def test_bad_media_options(tmp_path: Path, text: str, named: str) -> None:
    assert named in config_error(write(tmp_path, text))
