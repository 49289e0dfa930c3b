"""The SQL both database stores share: one schema, one set of statements (``?`` placeholders).

Subclasses supply a connection and a transaction (``_transaction``) and translate the placeholders;
everything else — upserts on the duplicate index, the revision counter, the recursive walk behind
``neighbors`` (in :mod:`.sqlgraph`) — is standard SQL that SQLite (3.35+) and PostgreSQL both run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from toolmesh.servers.memory.items import IndexRow, ItemChange, MemoryItem, NewItem, ScopeRef, text_hash
from toolmesh.servers.memory.stores.migrations import migrate
from toolmesh.servers.memory.stores.sqlcommon import chunks, marks, scope_of
from toolmesh.servers.memory.stores.sqlgraph import SqlGraph

__all__ = ["SqlMemoryStore"]

_BY_HASH = "SELECT id FROM memory_items WHERE scope = ? AND scope_key = ? AND kind = ? AND text_hash = ?"
_ITEM_COLUMNS = (
    "id, text, kind, source, scope, scope_key, topic, tags, created_at, updated_at, expires_at, flags, seen"
)


def _item(row: Sequence[Any]) -> MemoryItem:
    return MemoryItem(
        id=int(row[0]),
        text=row[1],
        kind=row[2],
        source=row[3],
        scope=scope_of(row[4], row[5]),
        topic=row[6],
        tags=tuple(json.loads(row[7])),
        created_at=float(row[8]),
        updated_at=float(row[9]),
        expires_at=None if row[10] is None else float(row[10]),
        flags=tuple(json.loads(row[11])),
        seen=int(row[12]),
    )


class SqlMemoryStore(SqlGraph):
    @property
    def backend(self) -> str:
        return self.dialect.name

    @property
    def location(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _migrate(self) -> None:
        with self._transaction() as execute:
            migrate(execute, self.dialect)

    def schema_version(self) -> int:
        with self._transaction() as execute:
            rows = execute("SELECT value FROM memory_meta WHERE key = 'schema_version'", ())
        return int(rows[0][0]) if rows else 0

    def revision(self) -> int:
        with self._transaction() as execute:
            return int(execute("SELECT n FROM memory_revision WHERE id = 1", ())[0][0])

    def get_meta(self, key: str) -> str | None:
        with self._transaction() as execute:
            rows = execute("SELECT value FROM memory_meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as execute:
            execute(
                "INSERT INTO memory_meta(key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- items ---------------------------------------------------------------------------------------------

    def insert_items(self, items: Sequence[NewItem]) -> tuple[list[tuple[int, bool]], int]:
        out: list[tuple[int, bool]] = []
        with self._transaction() as execute:
            for item in items:
                rows = execute(
                    "INSERT INTO memory_items(text, kind, source, scope, scope_key, topic, tags, created_at, "
                    "updated_at, expires_at, flags, text_hash, terms, vec, seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
                    "ON CONFLICT (scope, scope_key, kind, text_hash) DO NOTHING RETURNING id",
                    (
                        item.text,
                        item.kind,
                        item.source,
                        item.scope.scope,
                        item.scope.key,
                        item.topic,
                        json.dumps(list(item.tags)),
                        item.created_at,
                        item.created_at,
                        item.expires_at,
                        json.dumps(list(item.flags)),
                        item.hash,
                        item.terms,
                        item.vector,
                    ),
                )
                if rows:
                    out.append((int(rows[0][0]), True))
                    continue
                existing = execute(
                    _BY_HASH,
                    (item.scope.scope, item.scope.key, item.kind, item.hash),
                )
                out.append((int(existing[0][0]), False))
            revision = self._bump(execute)
        return out, revision

    def find_by_hash(self, scope: ScopeRef, kind: str, digest: str) -> int | None:
        with self._transaction() as execute:
            rows = execute(
                _BY_HASH,
                (scope.scope, scope.key, kind, digest),
            )
        return int(rows[0][0]) if rows else None

    def update_item(self, item_id: int, change: ItemChange) -> int:
        sets = ["updated_at = ?", "tags = ?", "expires_at = ?", "seen = seen + 1"]
        params: list[Any] = [change.updated_at, json.dumps(list(change.tags)), change.expires_at]
        if change.text is not None:
            sets += ["text = ?", "text_hash = ?", "terms = ?", "vec = ?"]
            params += [change.text, text_hash(change.text), change.terms or "", change.vector]
        if change.flags is not None:
            sets.append("flags = ?")
            params.append(json.dumps(list(change.flags)))
        if change.topic is not None:
            sets.append("topic = ?")
            params.append(change.topic)
        with self._transaction() as execute:
            execute(f"UPDATE memory_items SET {', '.join(sets)} WHERE id = ?", (*params, item_id))  # noqa: S608
            return self._bump(execute)

    def get_items(self, ids: Sequence[int]) -> dict[int, MemoryItem]:
        out: dict[int, MemoryItem] = {}
        with self._transaction() as execute:
            for chunk in chunks(ids):
                sql = f"SELECT {_ITEM_COLUMNS} FROM memory_items WHERE id IN ({marks(len(chunk))})"  # noqa: S608
                for row in execute(sql, chunk):
                    out[int(row[0])] = _item(row)
        return out

    def delete_items(self, ids: Sequence[int]) -> tuple[int, int]:
        deleted = 0
        with self._transaction() as execute:
            for chunk in chunks(ids):
                sql = f"DELETE FROM memory_items WHERE id IN ({marks(len(chunk))}) RETURNING id"  # noqa: S608
                deleted += len(execute(sql, chunk))
            return deleted, self._bump(execute)

    def expired_item_ids(self, now: float) -> list[int]:
        with self._transaction() as execute:
            rows = execute(
                "SELECT id FROM memory_items WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
        return [int(r[0]) for r in rows]

    def scan_items(self) -> Iterator[IndexRow]:
        with self._transaction() as execute:
            rows = execute(
                "SELECT id, scope, scope_key, kind, topic, tags, created_at, updated_at, expires_at, terms, "
                "vec FROM memory_items ORDER BY id",
                (),
            )
        for r in rows:
            yield IndexRow(
                id=int(r[0]),
                scope=scope_of(r[1], r[2]),
                kind=r[3],
                topic=r[4],
                tags=tuple(json.loads(r[5])),
                created_at=float(r[6]),
                updated_at=float(r[7]),
                expires_at=None if r[8] is None else float(r[8]),
                terms=r[9],
                vector=None if r[10] is None else bytes(r[10]),
            )

    def set_item_vectors(self, vectors: Sequence[tuple[int, bytes | None]]) -> None:
        with self._transaction() as execute:
            for item_id, vector in vectors:
                execute("UPDATE memory_items SET vec = ? WHERE id = ?", (vector, item_id))
