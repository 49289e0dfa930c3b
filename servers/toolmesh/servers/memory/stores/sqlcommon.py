"""What the SQL stores share below the statements: the transaction seam, the revision bump, id lists."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from toolmesh.servers.memory.items import ScopeRef
from toolmesh.servers.memory.stores.migrations import Dialect, Execute

__all__ = ["CHUNK", "SqlBase", "chunks", "marks", "scope_of"]

CHUNK = 500  # ids per IN (...) list


def scope_of(scope: str, key: str) -> ScopeRef:
    return ScopeRef(scope, key)  # type: ignore[arg-type]  # stored values were checked on the way in


def chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = list(dict.fromkeys(int(i) for i in ids))
    for lo in range(0, len(unique), CHUNK):
        yield unique[lo : lo + CHUNK]


def marks(n: int) -> str:
    return ", ".join("?" * n)


class SqlBase:
    dialect: Dialect

    def _transaction(self) -> contextlib.AbstractContextManager[Execute]:
        """A context whose value runs one statement and returns its rows; commits on a clean exit."""
        raise NotImplementedError

    @staticmethod
    def _bump(execute: Execute) -> int:
        return int(execute("UPDATE memory_revision SET n = n + 1 WHERE id = 1 RETURNING n", ())[0][0])
