"""A database address that accepts connections and never answers (issue 15): every call ends within the
connect timeout with the reason, concurrent calls do not queue one behind another, other connections keep
answering, and shutdown is not held up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import pytest_asyncio
from fastmcp import Client

from tests.servers.sql.conftest import Db, data_of, text_of
from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.connections import make_backend
from toolmesh.servers.sql.errors import ConnectionUnavailable
from toolmesh.servers.sql.sample import generate_sample
from toolmesh.servers.sql.settings import ConnectionSettings

CONNECT_TIMEOUT = 1.0


@pytest_asyncio.fixture
async def silent_port() -> AsyncIterator[int]:
    """A local TCP listener that accepts every connection and never sends a byte."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        yield port
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["postgresql://postgres", "mysql://root"])
async def test_a_silent_peer_is_given_up_on_with_the_reason(
    silent_port: int, scheme: str, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.sqlite"
    generate_sample(shop)
    settings = SqlSettings(
        sample=False,
        connections={
            "dead": ConnectionSettings(url=f"{scheme}@127.0.0.1:{silent_port}/test"),
            "shop": ConnectionSettings(url=f"sqlite:///{shop}"),
        },
        timeout_seconds=30.0,  # the connect timeout, not the statement limit, must end these calls
        connect_timeout_seconds=CONNECT_TIMEOUT,
    )
    started = time.monotonic()
    with anyio.fail_after(CONNECT_TIMEOUT * 2 + 3):  # five calls at once, and the shutdown after them
        async with Client(build_server(settings)) as client:
            calls = [
                asyncio.create_task(
                    client.call_tool(
                        "run_query", {"sql": "SELECT 1", "connection": "dead"}, raise_on_error=False
                    )
                )
                for _ in range(5)
            ]
            await asyncio.sleep(0.05)
            other = await client.call_tool("run_query", {"sql": "SELECT 1 AS one", "connection": "shop"})
            assert data_of(other)["rows"] == [[1]]
            assert not any(c.done() for c in calls), "the dead peer answered before the other connection"
            results = await asyncio.gather(*calls)
    elapsed = time.monotonic() - started
    for result in results:
        assert result.is_error
        message = text_of(result)
        assert f"timed out after {CONNECT_TIMEOUT:g} s connecting to 127.0.0.1:{silent_port}" in message, (
            message
        )
        assert "CONNECT_TIMEOUT_SECONDS" in message
    assert elapsed < CONNECT_TIMEOUT * 2 + 2, f"{elapsed:.1f} s for five concurrent calls"


@pytest.mark.asyncio
async def test_the_connect_timeout_is_a_setting_with_a_default() -> None:
    assert SqlSettings(sample=False).connect_timeout_seconds == 10.0
    settings: Any = SqlSettings(sample=False, connect_timeout_seconds=2.5)
    assert settings.connect_timeout_seconds == 2.5


@pytest.mark.asyncio(loop_scope="module")
async def test_waiting_for_a_pooled_connection_is_bounded_by_the_call(db: Db) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite's pool wait is covered in test_bombs (it raises QueryTimeout)")
    sleep = {"postgres": "SELECT pg_sleep(3)", "mysql": "SELECT SLEEP(3)"}[db.dialect]
    backend = make_backend(db.connection(pool_size=1), 5.0)
    try:
        busy = asyncio.create_task(backend.query(sleep, None, max_rows=1, max_bytes=1000, time_limit=5.0))
        await asyncio.sleep(0.3)  # the only connection is taken
        with (
            anyio.fail_after(1.0 + 2),
            pytest.raises(ConnectionUnavailable, match=r"became (free|ready) within 1 s"),
        ):
            await backend.query("SELECT 1", None, max_rows=1, max_bytes=1000, time_limit=1.0)
        assert not busy.done()
        await busy
    finally:
        await backend.close()
