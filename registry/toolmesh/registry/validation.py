"""Outbound safety: which URLs the registry may fetch or probe, and a size- and time-capped fetch.

The registry fetches agent cards and probes endpoints on behalf of whoever registered them, so a
registration must not turn it into a proxy into the private network (SSRF). Unless
``allow_private_targets`` is set, every target host must resolve only to public addresses: no
loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved or unspecified
addresses. Redirects are not followed.

:meth:`TargetGuard.check` is the early, friendly refusal (at registration time, with the URL in the
message); the guarantee is at connect time: the :class:`Fetcher`'s client connects through
:class:`~toolmesh.protocols.egress.PublicOnlyBackend`, which checks the very addresses it connects to,
so a DNS-rebinding host cannot pass the check with a public answer and then be reached on a private one.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx

from toolmesh.protocols.cards import CardError, check_http_url
from toolmesh.protocols.egress import (
    PublicOnlyBackend,
    PublicOnlyTransport,
    Resolver,
    first_non_public,
    is_public_address,
    system_resolve,
)
from toolmesh.protocols.errors import InputError, LimitExceeded, PermissionDenied, UpstreamError

__all__ = ["FetchResult", "Fetcher", "TargetGuard", "is_public_address"]

_NUMERIC_HOST = re.compile(r"[0-9][0-9a-fx.]*")
_BLOCKED_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_HINT = (
    "The registry only contacts public addresses; an operator can set "
    "TOOLMESH_REGISTRY_ALLOW_PRIVATE_TARGETS=true for a private mesh."
)


class TargetGuard:
    """Refuses URLs whose host is (or resolves to) a non-public address, unless private ones are allowed."""

    def __init__(self, *, allow_private: bool, resolve: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self._resolve = resolve or system_resolve

    def _refuse(self, url: str, why: str) -> PermissionDenied:
        return PermissionDenied(f"refusing to reach {url!r}: {why}", hint=_HINT)

    def backend(self) -> PublicOnlyBackend:
        """The connect-time half of this guard: same policy, same resolver, same hint."""
        return PublicOnlyBackend(allow_private=self.allow_private, resolve=self._resolve, hint=_HINT)

    def check_literal(self, url: str, *, field: str = "url") -> str:
        """Validate the URL and refuse literal private hosts, without DNS (registration time)."""
        check_http_url(url, field=field)
        if self.allow_private:
            return url
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
        if host in _BLOCKED_NAMES or host.endswith(".localhost"):
            raise self._refuse(url, f"{host!r} is a loopback name")
        try:
            addr: IPv4Address | IPv6Address = ip_address(host)
        except ValueError:
            if not _NUMERIC_HOST.fullmatch(host):
                return url
            # Shorthand IPv4 the resolver would accept: 127.1, 0x7f.1, 2130706433, 0177.0.0.1.
            try:
                addr = IPv4Address(socket.inet_aton(host))
            except OSError:
                return url  # not an address after all: a name, checked by DNS when fetched
        if not is_public_address(addr):
            raise self._refuse(url, f"{addr} is not a public address")
        return url

    async def check(self, url: str, *, field: str = "url") -> str:
        """:meth:`check_literal` plus DNS: every address the host resolves to must be public."""
        self.check_literal(url, field=field)
        if self.allow_private:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            ip_address(host)
            return url
        except ValueError:
            pass
        try:
            addresses = await self._resolve(host, parts.port or 443)
        except (OSError, UnicodeError) as exc:
            raise InputError(f"cannot resolve host {host!r} of {url!r}", hint="Check the URL.") from exc
        bad = first_non_public(addresses)
        if bad is not None:
            raise self._refuse(url, f"{host!r} resolves to {bad}, which is not a public address")
        return url


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: int
    body: bytes
    elapsed: float
    content_type: str


class Fetcher:
    """GET with the target guard, no redirects, a byte cap and a deadline.

    The default client connects only through ``guard.backend()``; an injected ``client`` is used as it
    is, so it carries its own connect-time policy (or none).
    """

    def __init__(
        self, guard: TargetGuard, *, timeout: float, client: httpx.AsyncClient | None = None
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self._own = client is None
        # No proxy: trust_env=False ignores *_PROXY variables, and an explicit proxy would resolve and
        # connect on our behalf, bypassing the connect-time check.
        self.client = client or httpx.AsyncClient(
            transport=PublicOnlyTransport(
                guard.backend(), limits=httpx.Limits(max_connections=256, max_keepalive_connections=32)
            ),
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            headers={"user-agent": "toolmesh-registry/1", "accept": "application/json"},
            trust_env=False,
        )

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()

    async def get(self, url: str, *, max_bytes: int) -> FetchResult:
        """Fetch ``url``; raises :class:`UpstreamError` on network failure, never follows redirects."""
        await self.guard.check(url)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.stream("GET", url) as response:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise LimitExceeded(f"{url!r} answered with more than {max_bytes} bytes")
                        chunks.append(chunk)
                    return FetchResult(
                        status=response.status_code,
                        body=b"".join(chunks),
                        elapsed=time.perf_counter() - started,
                        content_type=response.headers.get("content-type", ""),
                    )
        except TimeoutError as exc:
            raise UpstreamError(f"{url!r} did not answer within {self.timeout:.1f}s") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"cannot fetch {url!r}: {type(exc).__name__}: {exc}"[:300]) from exc

    async def get_json(self, url: str, *, max_bytes: int) -> Any:
        """Fetch and decode a JSON document (an agent card); 4xx-class errors for anything else."""
        result = await self.get(url, max_bytes=max_bytes)
        if 300 <= result.status < 400:
            raise UpstreamError(f"{url!r} redirects (HTTP {result.status}); register the final URL")
        if result.status != 200:
            raise UpstreamError(f"{url!r} answered HTTP {result.status}, not the agent card")
        try:
            return json.loads(result.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CardError(f"{url!r} did not return JSON: {exc}"[:300]) from exc
