"""Connection timeouts over real TCP: slowloris clients are dropped; keep-alive outlasts clients' pools."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from toolmesh.protocols.connections import DEFAULT_KEEP_ALIVE
from toolmesh.protocols.serving import a2a_http_app, running
from toolmesh.protocols.settings import ServingSettings

HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
BOUND = 10.0  # generous: the configured deadline is 1 s


@asynccontextmanager
async def served(**kw: Any) -> AsyncIterator[tuple[str, int]]:
    settings = ServingSettings(transport="http", port=0, graceful_timeout=1, **kw)
    async with running(a2a_http_app([], settings, name="timeouts"), settings) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        yield parts.hostname, parts.port


async def read_until_closed(stream: SocketStream) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while True:
        try:
            received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return received


async def one_response(stream: SocketStream) -> bytes:
    """One complete HTTP response (the /healthz JSON) read from a kept-alive connection."""
    received = b""
    while not received.endswith(b'{"status":"ok"}'):
        received += await stream.receive()
    return received


@pytest.mark.asyncio
async def test_a_partial_request_head_is_answered_408_and_closed() -> None:
    async with served(header_timeout=1) as (host, port):
        started = time.monotonic()
        with anyio.fail_after(BOUND):
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(HEAD)  # ... and never the blank line that ends the head
                received = await read_until_closed(stream)
        elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"request head" in received.lower()
    assert 0.8 <= elapsed < BOUND


@pytest.mark.asyncio
async def test_trickling_bytes_do_not_extend_the_deadline() -> None:
    async with served(header_timeout=1) as (host, port):
        started = time.monotonic()
        with anyio.fail_after(BOUND):
            async with await anyio.connect_tcp(host, port) as stream:
                closed = False
                for byte in HEAD * 10:  # one byte every 0.1 s: far longer than the deadline
                    try:
                        await stream.send(bytes([byte]))
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        closed = True
                        break
                    await anyio.sleep(0.1)
                if not closed:
                    await read_until_closed(stream)
        elapsed = time.monotonic() - started
    assert elapsed < 4, f"the server held a trickling head for {elapsed:.1f}s"


@pytest.mark.asyncio
async def test_a_connection_that_sends_nothing_is_closed() -> None:
    async with served(header_timeout=1) as (host, port):
        with anyio.fail_after(BOUND):
            async with await anyio.connect_tcp(host, port) as stream:
                assert await read_until_closed(stream) == b""  # no request begun: nothing to answer


@pytest.mark.asyncio
async def test_an_idle_keep_alive_connection_outlasts_client_pools_and_the_head_deadline() -> None:
    """httpx drops pooled connections after 5 s idle; the server must not close them first (the race)."""
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    assert client_expiry < ServingSettings().keep_alive_timeout == DEFAULT_KEEP_ALIVE
    async with served(header_timeout=1) as (host, port):
        with anyio.fail_after(BOUND + client_expiry):
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(HEAD + b"\r\n")
                assert (await one_response(stream)).startswith(b"HTTP/1.1 200 ")
                await anyio.sleep(client_expiry + 1)  # idle past the client's expiry and the head deadline
                await stream.send(HEAD + b"\r\n")
                assert (await one_response(stream)).startswith(b"HTTP/1.1 200 ")


@pytest.mark.asyncio
async def test_keep_alive_is_configurable() -> None:
    async with served(header_timeout=5, keep_alive_timeout=1) as (host, port):
        with anyio.fail_after(BOUND):
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(HEAD + b"\r\n")
                await one_response(stream)
                started = time.monotonic()
                assert await read_until_closed(stream) == b""
                assert time.monotonic() - started < 4
