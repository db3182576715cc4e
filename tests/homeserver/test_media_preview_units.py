"""The pieces of URL previews that need no network: the address guard and OpenGraph parsing."""

from __future__ import annotations

import pytest

from homeserver.errors import InvalidParam
from homeserver.media.fetch import AddressGuard
from homeserver.media.preview import check_url, parse_opengraph


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.5.6.7",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "not an address",
    ],
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert not AddressGuard(()).allowed(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    # Only judged here; nothing is sent to these addresses.
    assert AddressGuard(()).allowed(address)


def test_the_allowlist_opens_chosen_networks_only() -> None:
    guard = AddressGuard(("127.0.0.1/32", "fd00::/8"))
    assert guard.allowed("127.0.0.1") and guard.allowed("fd12::3")
    assert not guard.allowed("127.0.0.2") and not guard.allowed("::1") and not guard.allowed("10.0.0.1")


def test_opengraph() -> None:
    html = """<html><head><title> Fallback title </title>
    <meta property="og:title" content="The &amp; title">
    <meta property="og:description" content="About it">
    <meta property="og:image" content="/cat.png">
    <meta property="og:image:width" content="640">
    <meta property="og:image:height" content="not a number">
    <meta name="description" content="ignored: og:description wins">
    </head><body><meta property="og:title" content="second one is ignored"></body></html>"""
    assert parse_opengraph(html) == {
        "og:title": "The & title",
        "og:description": "About it",
        "og:image": "/cat.png",
        "og:image:width": 640,
    }


def test_opengraph_fallbacks_and_limits() -> None:
    html = "<title>Just a title</title><meta name='description' content='A page'>"
    assert parse_opengraph(html) == {"og:title": "Just a title", "og:description": "A page"}
    many = "".join(f'<meta property="og:k{i}" content="{"v" * 5000}">' for i in range(500))
    og = parse_opengraph(many)
    assert len(og) == 50 and all(len(v) == 1000 for v in og.values())
    assert parse_opengraph("<<<>>> not html at all <meta") == {}


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/", "file:///etc/passwd", "http://", "javascript:alert(1)", "http://x/" + "a" * 3000],
)
def test_only_http_urls(url: str) -> None:
    with pytest.raises(InvalidParam):
        check_url(url)
