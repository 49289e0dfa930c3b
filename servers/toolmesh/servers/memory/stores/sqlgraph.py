"""The knowledge-graph half of the SQL stores: entities, observations, relations and the recursive walk.

``neighbors`` is one recursive CTE (the same text on SQLite and PostgreSQL): it follows relations in both
directions from the start entity, one hop per step, up to the depth asked, and keeps each entity's nearest
hop count. ``UNION`` (not ``UNION ALL``) drops repeated (entity, hop) rows, so cycles cannot grow it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from toolmesh.servers.memory.items import (
    EntityRecord,
    IndexRow,
    RelationRecord,
    ScopeRef,
    normal_form,
    text_hash,
)
from toolmesh.servers.memory.stores.migrations import Execute
from toolmesh.servers.memory.stores.sqlcommon import SqlBase, chunks, marks, scope_of

__all__ = ["SqlGraph"]

_NEIGHBORS = """
WITH RECURSIVE walk(id, hops) AS (
    SELECT CAST(? AS BIGINT), 0
    UNION
    SELECT CASE WHEN r.source_id = w.id THEN r.target_id ELSE r.source_id END, w.hops + 1
    FROM walk w JOIN memory_relations r ON r.source_id = w.id OR r.target_id = w.id
    WHERE w.hops < ?
)
SELECT id, MIN(hops) AS hops FROM walk GROUP BY id ORDER BY hops, id LIMIT ?
"""
_RELATIONS = (
    "SELECT s.name, t.name, r.type, r.created_at FROM memory_relations r "
    "JOIN memory_entities s ON s.id = r.source_id JOIN memory_entities t ON t.id = r.target_id WHERE "
)
_ENTITY_COLUMNS = "id, scope, scope_key, name, type, flags, created_at, updated_at"


class SqlGraph(SqlBase):
    def _entities(self, execute: Execute, where: str, params: Sequence[Any]) -> list[EntityRecord]:
        sql = f"SELECT {_ENTITY_COLUMNS} FROM memory_entities WHERE {where}"  # noqa: S608 (our own clauses)
        rows = execute(sql, params)
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        observations: dict[int, list[str]] = {i: [] for i in ids}
        for chunk in chunks(ids):
            for entity_id, text in execute(
                f"SELECT entity_id, text FROM memory_observations WHERE entity_id IN ({marks(len(chunk))}) "  # noqa: S608
                "ORDER BY id",
                chunk,
            ):
                observations[int(entity_id)].append(text)
        return [
            EntityRecord(
                id=int(r[0]),
                scope=scope_of(r[1], r[2]),
                name=r[3],
                type=r[4],
                observations=tuple(observations[int(r[0])]),
                created_at=float(r[6]),
                updated_at=float(r[7]),
                flags=tuple(json.loads(r[5])),
            )
            for r in rows
        ]

    def find_entities(self, scope: ScopeRef, names: Sequence[str]) -> dict[str, EntityRecord]:
        keys = list(dict.fromkeys(normal_form(n) for n in names))
        if not keys:
            return {}
        with self._transaction() as execute:
            found = self._entities(
                execute,
                f"scope = ? AND scope_key = ? AND name_key IN ({marks(len(keys))})",
                (scope.scope, scope.key, *keys),
            )
        return {normal_form(e.name): e for e in found}

    def get_entities(self, ids: Sequence[int]) -> dict[int, EntityRecord]:
        out: dict[int, EntityRecord] = {}
        with self._transaction() as execute:
            for chunk in chunks(ids):
                for entity in self._entities(execute, f"id IN ({marks(len(chunk))})", chunk):
                    out[entity.id] = entity
        return out

    def insert_entity(
        self, scope: ScopeRef, name: str, type_: str, now: float, flags: tuple[str, ...]
    ) -> tuple[int, int]:
        with self._transaction() as execute:
            rows = execute(
                "INSERT INTO memory_entities(scope, scope_key, name, name_key, type, flags, created_at, "
                "updated_at, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '') "
                "ON CONFLICT (scope, scope_key, name_key) DO NOTHING RETURNING id",
                (scope.scope, scope.key, name, normal_form(name), type_, json.dumps(list(flags)), now, now),
            )
            if not rows:
                rows = execute(
                    "SELECT id FROM memory_entities WHERE scope = ? AND scope_key = ? AND name_key = ?",
                    (scope.scope, scope.key, normal_form(name)),
                )
            return int(rows[0][0]), self._bump(execute)

    def update_entity(
        self,
        entity_id: int,
        *,
        type_: str | None,
        terms: str,
        vector: bytes | None,
        flags: tuple[str, ...],
        now: float,
    ) -> int:
        with self._transaction() as execute:
            execute(
                "UPDATE memory_entities SET type = COALESCE(?, type), terms = ?, vec = ?, flags = ?, "
                "updated_at = ? WHERE id = ?",
                (type_, terms, vector, json.dumps(list(flags)), now, entity_id),
            )
            return self._bump(execute)

    def add_observations(self, entity_id: int, texts: Sequence[str], now: float) -> tuple[int, int]:
        added = 0
        with self._transaction() as execute:
            for text in texts:
                added += len(
                    execute(
                        "INSERT INTO memory_observations(entity_id, text, text_hash, created_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (entity_id, text_hash) DO NOTHING RETURNING id",
                        (entity_id, text, text_hash(text), now),
                    )
                )
            return added, self._bump(execute)

    def add_relations(
        self, scope: ScopeRef, relations: Sequence[tuple[int, int, str]], now: float
    ) -> tuple[int, int]:
        added = 0
        with self._transaction() as execute:
            for source, target, type_ in relations:
                added += len(
                    execute(
                        "INSERT INTO memory_relations(source_id, target_id, type, created_at) "
                        "VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (source_id, target_id, type) DO NOTHING RETURNING id",
                        (source, target, type_, now),
                    )
                )
            return added, self._bump(execute)

    def neighbors(self, entity_id: int, depth: int, limit: int) -> list[tuple[int, int]]:
        with self._transaction() as execute:
            rows = execute(_NEIGHBORS, (entity_id, depth, limit))
        return [(int(r[0]), int(r[1])) for r in rows]

    def relations_among(self, ids: Sequence[int]) -> list[RelationRecord]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        holes = marks(len(wanted))
        with self._transaction() as execute:
            where = f"r.source_id IN ({holes}) AND r.target_id IN ({holes})"
            rows = execute(_RELATIONS + where + " ORDER BY r.id", (*wanted, *wanted))
        return [RelationRecord(r[0], r[1], r[2], float(r[3])) for r in rows]

    def scan_entities(self) -> Iterator[IndexRow]:
        with self._transaction() as execute:
            rows = execute(
                "SELECT id, scope, scope_key, type, created_at, updated_at, terms, vec FROM memory_entities "
                "ORDER BY id",
                (),
            )
        for r in rows:
            yield IndexRow(
                id=int(r[0]),
                scope=scope_of(r[1], r[2]),
                kind=r[3],
                topic=None,
                tags=(),
                created_at=float(r[4]),
                updated_at=float(r[5]),
                expires_at=None,
                terms=r[6],
                vector=None if r[7] is None else bytes(r[7]),
            )
