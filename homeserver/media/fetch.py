"""Outbound HTTP for URL previews, guarded against server-side request forgery.

Every address is checked where it is used: host names through a resolver that drops the
addresses we may not reach (so aiohttp connects only to checked ones: no second lookup that
could answer differently), IP literals (which aiohttp never resolves) before each request.
Redirects are followed by hand, one hop at a time, each hop checked the same way. Private,
loopback, link-local, multicast and reserved addresses are refused unless a configured
allowlist holds them. Bodies are read up to a limit, and every hop has a time limit."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from homeserver.errors import Forbidden, MatrixError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 5
NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "homeserver URL preview"


class BlockedAddress(OSError):
    """A host resolved only to addresses we may not reach."""


class FetchFailed(MatrixError):
    status, errcode = 502, "M_UNKNOWN"


class AddressGuard:
    def __init__(self, allowlist: tuple[str, ...]) -> None:
        self._allow: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowlist)

    def allowed(self, address: str) -> bool:
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if any(ip in net for net in self._allow):
            return True
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not self.allowed(str(embedded)):
            return False
        return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64), judged as itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class GuardedResolver(AbstractResolver):
    """The system resolver, answering only addresses the guard allows."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._guard.allowed(r["host"])]
        if not allowed:
            raise BlockedAddress(f"{host} resolves to no address we may reach")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _literal_address(host: str) -> str | None:
    """The IP address a URL's host spells, also in the old forms inet_aton reads (127.1,
    0x7f.1, 2130706433) that some HTTP clients connect to without resolving."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str  # lower case, without parameters
    charset: str | None
    body: bytes


class GuardedFetcher:
    def __init__(self, guard: AddressGuard, timeout_s: float) -> None:
        self._guard = guard
        self._timeout_s = timeout_s

    async def fetch(self, url: str, max_bytes: int) -> Fetched:
        """GET `url` following at most MAX_REDIRECTS redirects, all within the time limit;
        Forbidden for a refused address, FetchFailed for anything else that goes wrong
        (including a body over `max_bytes`)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._follow(url, max_bytes)
        except TimeoutError:
            raise FetchFailed("Fetching the URL took too long") from None

    async def _follow(self, url: str, max_bytes: int) -> Fetched:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._guard), limit=4)
        async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT}) as session:
            for _ in range(MAX_REDIRECTS + 1):
                self._check_url(url)
                try:
                    fetched, location = await self._get(session, url, max_bytes)
                except aiohttp.ClientConnectorError as e:
                    if isinstance(e.os_error, BlockedAddress):
                        raise Forbidden("URL previews of this address are not allowed") from None
                    raise FetchFailed("Could not fetch the URL") from None
                except (aiohttp.ClientError, UnicodeError, ValueError):
                    raise FetchFailed("Could not fetch the URL") from None
                if fetched is not None:
                    return fetched
                assert location is not None
                url = urljoin(url, location)
        raise FetchFailed("Too many redirects")

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchFailed("Only http and https URLs can be previewed")
        address = _literal_address(parts.hostname)
        if address is not None and not self._guard.allowed(address):
            raise Forbidden("URL previews of this address are not allowed")
        # Otherwise a host name: the resolver checks what it resolves to.

    @staticmethod
    async def _get(
        session: aiohttp.ClientSession, url: str, max_bytes: int
    ) -> tuple[Fetched | None, str | None]:
        async with session.get(url, allow_redirects=False) as resp:
            if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                return None, resp.headers["Location"]
            if resp.status != 200:
                raise FetchFailed(f"The URL answered HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise FetchFailed("The page is too large to preview")
            body = await resp.content.read(max_bytes + 1)
            while len(body) <= max_bytes and not resp.content.at_eof():
                more = await resp.content.read(max_bytes + 1 - len(body))
                if not more:
                    break
                body += more
            if len(body) > max_bytes:
                raise FetchFailed("The page is too large to preview")
            return Fetched(str(resp.url), resp.content_type.lower(), resp.charset, body), None
