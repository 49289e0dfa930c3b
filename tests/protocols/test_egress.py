"""The egress guard's address classes: IPv6 forms that tunnel to, or stand for, a private IPv4 address.

Each class is tested on its own and as a real attempt: an httpx request through
:class:`PublicOnlyTransport` whose resolver answers that address, with a recording network backend
underneath to prove nothing was connected to.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address

import anyio
import httpcore
import httpx
import pytest

from toolmesh.protocols.egress import (
    PublicOnlyBackend,
    PublicOnlyTransport,
    embedded_ipv4,
    is_public_address,
)
from toolmesh.protocols.errors import PermissionDenied

NOT_PUBLIC = {
    "6to4 of loopback": "2002:7f00:1::1",
    "6to4 of 10/8": "2002:a00:1::",
    "6to4 of 192.168/16": "2002:c0a8:101::1",
    "6to4 of the metadata service": "2002:a9fe:a9fe::",
    "site-local": "fec0::1",
    "site-local, high end of the /10": "feff:ffff::1",
    "NAT64 of loopback": "64:ff9b::7f00:1",
    "NAT64 of the metadata service": "64:ff9b::169.254.169.254",
    "local-use NAT64": "64:ff9b:1::808:808",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "Teredo wrapping a public address": "2001:0:808:808::f7f7:f7f7",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible public": "::8.8.8.8",
    "unique local": "fd00::1",
    "link-local": "fe80::1",
    "documentation": "2001:db8::1",
}
PUBLIC = {
    "6to4 of a public address": "2002:808:808::1",
    "NAT64 of a public address": "64:ff9b::8.8.8.8",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "global unicast": "2606:4700:4700::1111",
    "public IPv4": "93.184.216.34",
}


@pytest.mark.parametrize("name", sorted(NOT_PUBLIC))
def test_not_public(name: str) -> None:
    assert not is_public_address(ip_address(NOT_PUBLIC[name])), name


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public(name: str) -> None:
    assert is_public_address(ip_address(PUBLIC[name])), name


def test_embedded_ipv4_is_decoded() -> None:
    assert embedded_ipv4(IPv6Address("2002:c0a8:101::1")) == IPv4Address("192.168.1.1")
    assert embedded_ipv4(IPv6Address("64:ff9b::a00:1")) == IPv4Address("10.0.0.1")
    assert embedded_ipv4(IPv6Address("::ffff:10.0.0.1")) == IPv4Address("10.0.0.1")
    assert embedded_ipv4(IPv6Address("2606:4700:4700::1111")) is None


class Recording(httpcore.AsyncNetworkBackend):
    """A network backend that records connects and refuses them (nothing may get this far)."""

    def __init__(self) -> None:
        self.connects: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        raise httpcore.ConnectError("the recording backend never connects")


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(NOT_PUBLIC))
async def test_a_name_resolving_to_it_is_refused_before_connecting(name: str) -> None:
    address = NOT_PUBLIC[name]

    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    recording = Recording()
    transport = PublicOnlyTransport(PublicOnlyBackend(resolve=resolve, backend=recording))
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport) as http:
            with pytest.raises(PermissionDenied, match="not a public address"):
                await http.get("http://tunnel.example/")
            with pytest.raises(PermissionDenied, match="not a public address"):
                await http.get(f"http://[{address}]/")
    assert recording.connects == []
