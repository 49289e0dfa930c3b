"""The default store: one SQLite file (WAL), shared safely between the threads tools run in."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from toolmesh.servers.memory.errors import MemoryConfigError
from toolmesh.servers.memory.stores.migrations import Dialect, Execute
from toolmesh.servers.memory.stores.sql import SqlMemoryStore

__all__ = ["SqliteMemoryStore"]

SQLITE = Dialect(name="sqlite", id="INTEGER PRIMARY KEY", int="INTEGER", float="REAL", blob="BLOB")


class SqliteMemoryStore(SqlMemoryStore):
    dialect = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if sqlite3.sqlite_version_info < (3, 35):
            raise MemoryConfigError(
                f"SQLite {sqlite3.sqlite_version} is too old for the memory store (3.35+ has RETURNING)",
                hint="Use a Python built with a newer SQLite, or a PostgreSQL store.",
            )
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise MemoryConfigError(f"cannot open the memory database {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @property
    def location(self) -> str:
        return self.path

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Execute]:
        def execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            return self._db.execute(sql, tuple(params)).fetchall()

        with self._lock:
            # IMMEDIATE: take the write lock up front, so two processes never deadlock upgrading a read.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield execute
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
