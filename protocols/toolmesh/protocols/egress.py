"""Outbound connections only to public addresses, checked on the address that is actually connected to.

Checking a URL's host with DNS and then letting httpx connect is not enough: httpx resolves the name
again, and a rebinding DNS server (TTL 0) can answer a public address to the check and 127.0.0.1 or
169.254.169.254 to the connect. :class:`PublicOnlyBackend` closes that gap at the httpcore layer: it
resolves the host itself, refuses the connection if any address is not public, and connects to one of
the addresses it checked (by IP literal, so nothing resolves the name a second time). TLS still verifies
the URL's hostname: httpcore takes ``server_hostname`` from the request's origin, not from the address
the backend connected to, and httpx sets the Host header from the URL.

:class:`PublicOnlyTransport` is the httpx transport that uses it. It has no proxy support on purpose: a
proxy resolves and connects on our behalf, out of reach of this check.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import anyio
import httpcore
import httpx

from toolmesh.protocols.errors import PermissionDenied

__all__ = [
    "PublicOnlyBackend",
    "PublicOnlyTransport",
    "Resolver",
    "embedded_ipv4",
    "first_non_public",
    "is_public_address",
    "system_resolve",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``; injectable so tests can play a rebinding DNS server."""

_DEFAULT_HINT = "Only public addresses may be contacted; use a public host name or address."


# IPv6 ranges that carry or stand for an IPv4 address, or are not globally routable, which the
# ipaddress module's is_global does not catch on every Python version (3.11 calls 2002::/16 and
# fec0::/10 global).
_SIX_TO_FOUR = ip_network("2002::/16")  # RFC 3056: 2002:AABB:CCDD::/48 tunnels to IPv4 AA.BB.CC.DD
_NAT64 = ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 address reached
_NAT64_LOCAL = ip_network("64:ff9b:1::/48")  # RFC 8215: local-use NAT64, a site's own translator
_TEREDO = ip_network("2001::/32")  # RFC 4380: relayed tunnels; where it lands is the relay's choice
_SITE_LOCAL = ip_network("fec0::/10")  # RFC 3879 deprecated it, but routers still honour it
_IPV4_COMPATIBLE = ip_network("::/96")  # RFC 4291 deprecated "::a.b.c.d"


def embedded_ipv4(addr: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped, 6to4 or NAT64 (well-known prefix)."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _SIX_TO_FOUR:
        return addr.sixtofour
    if addr in _NAT64:
        return IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public_address(addr: IPv4Address | IPv6Address) -> bool:
    """True for globally routable unicast addresses only.

    An IPv6 address that embeds an IPv4 one (IPv4-mapped, 6to4, NAT64) is as public as that IPv4
    address; Teredo, site-local, local-use NAT64 and IPv4-compatible addresses never are.
    """
    if isinstance(addr, IPv6Address):
        embedded = embedded_ipv4(addr)
        if embedded is not None:
            return is_public_address(embedded)
        if any(addr in net for net in (_TEREDO, _SITE_LOCAL, _NAT64_LOCAL, _IPV4_COMPATIBLE)):
            return False
    return not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


def _parse(address: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None


def first_non_public(addresses: Iterable[str]) -> IPv4Address | IPv6Address | str | None:
    """The first address that is not public (unparseable ones count: fail closed), or ``None``."""
    for address in addresses:
        addr = _parse(address)
        if addr is None:
            return address
        if not is_public_address(addr):
            return addr
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses it resolved and found public.

    With ``allow_private`` the addresses are not checked, but the connect still goes through ``resolve``
    (one code path, and tests can point names at loopback). Addresses are tried in resolver order.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolve: Resolver | None = None,
        hint: str = _DEFAULT_HINT,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolve or system_resolve
        self._hint = hint
        self._backend = backend or httpcore.AnyIOBackend()

    def _refuse(self, target: str, why: str) -> PermissionDenied:
        return PermissionDenied(f"refusing to connect to {target}: {why}", hint=self._hint)

    async def _checked_addresses(self, host: str, port: int, resolve_timeout: float | None) -> list[str]:
        """The addresses of ``host``, all public unless private ones are allowed; resolved once, here."""
        literal = _parse(host) is not None
        if literal:
            addresses = [host]  # an IP literal: nothing to resolve, so nothing to rebind
        else:
            try:
                with anyio.fail_after(resolve_timeout):
                    addresses = await self._resolve(host, port)
            except TimeoutError as exc:  # before OSError: TimeoutError is one
                raise httpcore.ConnectTimeout(f"resolving {host!r} took over {resolve_timeout}s") from exc
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"host {host!r} resolved to no address")
        bad = None if self.allow_private else first_non_public(addresses)
        if bad is not None:
            if literal:
                raise self._refuse(f"{host}:{port}", f"{bad} is not a public address")
            raise self._refuse(f"{host}:{port}", f"{host!r} resolves to {bad}, which is not a public address")
        return list(dict.fromkeys(addresses))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface, passed on to the connect
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._checked_addresses(host, port, timeout)
        for tried, address in enumerate(addresses, start=1):
            try:  # the checked IP literal itself, so the connect cannot resolve to anything else
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError:
                if tried == len(addresses):
                    raise
                # else try the next checked address, as a resolver-driven connect would
        raise AssertionError("unreachable: the last address returns or raises")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not self.allow_private:
            raise self._refuse(f"unix socket {path!r}", "a local socket is not a public address")
        return await self._backend.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# httpcore errors as the httpx errors callers catch, most specific first (what httpx's own transport does).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise  # PermissionDenied and anything else pass through unchanged


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose every connection goes through ``backend``.

    httpx 0.28's ``AsyncHTTPTransport`` has no network-backend argument, so this maps requests and
    responses to httpcore the way it does. Pass it as ``httpx.AsyncClient(transport=...)``; the
    client's ``limits`` and ``verify`` do not reach a custom transport, so they are given here.
    """

    def __init__(
        self,
        backend: PublicOnlyBackend,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("PublicOnlyTransport needs an async request body; use httpx.AsyncClient")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,  # Host comes from the URL, not from the address connected to
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):
            raise TypeError("httpcore's async pool returned a sync response stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
