"""Memory stores behind one interface, and :func:`open_store`, which picks one from a URL."""

from __future__ import annotations

from pathlib import Path

from toolmesh.servers.memory.errors import MemoryConfigError
from toolmesh.servers.memory.stores.base import MemoryStore
from toolmesh.servers.memory.stores.inmemory import InMemoryStore

__all__ = ["InMemoryStore", "MemoryStore", "open_store"]


def open_store(url: str) -> MemoryStore:
    """``sqlite:///path`` (or a plain path), ``memory://`` or ``postgresql://user@host/db[?schema=name]``."""
    url = url.strip()
    if url in ("memory://", "memory", ":memory:"):
        return InMemoryStore()
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from toolmesh.servers.memory.stores.postgres import PostgresMemoryStore

        return PostgresMemoryStore(url.replace("postgres://", "postgresql://", 1))
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") else path  # sqlite:///abs -> /abs, sqlite:///rel -> rel
        if not path:
            raise MemoryConfigError(
                "the SQLite URL has no path", hint="Use sqlite:////abs/path/memory.sqlite."
            )
    elif "://" in url:
        raise MemoryConfigError(
            f"unknown memory store URL scheme in {url.split('://', 1)[0]!r}",
            hint="Use sqlite:///path, memory:// or postgresql://user@host:5432/db.",
        )
    else:
        path = url
    from toolmesh.servers.memory.stores.sqlite import SqliteMemoryStore

    return SqliteMemoryStore(Path(path).expanduser())
