"""Shared helpers for the registry tests: cards, tokens, a fake clock and stores on every backend."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from tests.services import POSTGRES_URL, require_service
from toolmesh.protocols.settings import hash_token
from toolmesh.registry.app import build_app
from toolmesh.registry.settings import RegistrySettings
from toolmesh.registry.sqlstore import SqlStore
from toolmesh.registry.store import MemoryStore, RegistryStore

PUBLISHER_A = "token-publisher-a"
PUBLISHER_B = "token-publisher-b"
ADMIN = "token-admin"
READER = "token-reader"
PG_ASYNC_URL = POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
BACKENDS = ["memory", "sqlite", "postgres"]


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class FakeClock:
    """An injectable wall clock that only moves when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_card(
    name: str = "planner",
    url: str = "http://127.0.0.1:9001",
    *,
    skills: list[dict[str, Any]] | None = None,
    description: str | None = None,
    streaming: bool = True,
    bindings: tuple[str, ...] = ("JSONRPC",),
) -> dict[str, Any]:
    """A valid A2A 1.0 agent card (camelCase JSON)."""
    paths = {"JSONRPC": "/a2a/jsonrpc", "HTTP+JSON": "/a2a/rest", "GRPC": "/grpc"}
    return {
        "name": name,
        "description": description or f"The {name} agent of the test mesh.",
        "version": "1.0.0",
        "supportedInterfaces": [
            {"url": f"{url}{paths.get(b, '/x')}", "protocolBinding": b, "protocolVersion": "1.0"}
            for b in bindings
        ],
        "capabilities": {"streaming": streaming, "pushNotifications": False},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": skills
        if skills is not None
        else [
            {
                "id": name,
                "name": name.title(),
                "description": f"Does {name} work.",
                "tags": [f"{name}-tag", "mesh"],
            }
        ],
    }


def make_server_entry(
    name: str = "sql", url: str = "http://127.0.0.1:9100/mcp", tools: list[str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} MCP server.",
        "transport": "streamable-http",
        "url": url,
        "tools": [
            {"name": t, "description": f"{t} tool"} for t in (tools or ["run_query", "describe_table"])
        ],
        "tags": [name],
    }


def settings_for(**overrides: Any) -> RegistrySettings:
    base: dict[str, Any] = {
        "transport": "http",
        "port": 0,
        "database_url": "memory://",
        "publishers": {hash_token(PUBLISHER_A): "team-a", hash_token(PUBLISHER_B): "team-b"},
        "admin_tokens": [hash_token(ADMIN)],
        "reader_tokens": [hash_token(READER)],
        "allow_private_targets": True,
        "probe_interval": 0,
        "ttl_seconds": 60,
        "metrics": False,
    }
    base.update(overrides)
    return RegistrySettings(**base)


StoreFactory = Callable[[], RegistryStore]


@pytest_asyncio.fixture(params=BACKENDS)
async def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Makes stores that share one database (a "restart" is a new store on the same data)."""
    backend: str = request.param
    if backend == "memory":
        shared = MemoryStore()
        yield lambda: shared
        return
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"
        yield lambda: SqlStore(url)
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield lambda: SqlStore(PG_ASYNC_URL, table_prefix=prefix, pool_size=4)
    cleanup = SqlStore(PG_ASYNC_URL, table_prefix=prefix, pool_size=1)
    try:
        await cleanup.drop()
    finally:
        await cleanup.close()


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan plus an in-process client (no sockets).

    The lifespan runs in its own task, so a fixture may enter and leave this in different tasks.
    """
    started = asyncio.Event()
    stop = asyncio.Event()

    async def hold() -> None:
        async with app.router.lifespan_context(app):
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    with anyio.fail_after(30):
        starting = asyncio.create_task(started.wait())
        await asyncio.wait({task, starting}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            starting.cancel()
            task.result()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client
    finally:
        stop.set()
        with anyio.fail_after(30):
            await task


@pytest_asyncio.fixture
async def clock() -> FakeClock:
    return FakeClock()


Api = tuple[httpx.AsyncClient, Starlette]


@pytest_asyncio.fixture
async def api(clock: FakeClock) -> AsyncIterator[Api]:
    """The registry on a memory store, with the fake clock."""
    app = build_app(settings_for(), clock=clock)
    async with serving(app) as client:
        yield client, app


@pytest_asyncio.fixture
async def api_on(clock: FakeClock, store_factory: StoreFactory) -> AsyncIterator[Api]:
    """The registry on every backend (memory, SQLite, PostgreSQL), with the fake clock."""
    app = build_app(settings_for(), clock=clock, store=store_factory())
    async with serving(app) as client:
        yield client, app


async def register(
    client: httpx.AsyncClient, card: dict[str, Any], token: str = PUBLISHER_A
) -> dict[str, Any]:
    response = await client.post("/api/v1/agents", json={"card": card}, headers=auth(token))
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()
    return data


AsyncFn = Callable[[], Awaitable[None]]
