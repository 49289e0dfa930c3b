"""The in-memory store: the same interface on plain dictionaries, for tests and throw-away sessions.

It keeps the SQL stores' rules — one item per (scope, kind, normalised text), one entity per (scope, name),
one relation per (source, target, type), a revision bumped by every write — so behaviour above the store is
the same on every backend. ``neighbors`` is a breadth-first walk here, a recursive CTE in SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from toolmesh.servers.memory.items import (
    EntityRecord,
    IndexRow,
    ItemChange,
    MemoryItem,
    NewItem,
    RelationRecord,
    ScopeRef,
    normal_form,
    text_hash,
)
from toolmesh.servers.memory.stores.migrations import SCHEMA_VERSION

__all__ = ["InMemoryStore"]


class InMemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._revision = 0
        self._meta: dict[str, str] = {}
        self._items: dict[int, MemoryItem] = {}
        self._extra: dict[int, tuple[str, bytes | None, str]] = {}  # id -> (terms, vector, hash)
        self._by_hash: dict[tuple[str, str, str, str], int] = {}
        self._entities: dict[int, EntityRecord] = {}
        self._entity_extra: dict[int, tuple[str, bytes | None]] = {}
        self._relations: dict[tuple[int, int, str], float] = {}
        self._next_id = 1

    @property
    def backend(self) -> str:
        return "memory"

    @property
    def location(self) -> str:
        return "memory"

    def close(self) -> None:
        """Nothing to release: the data lives as long as this object."""

    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def revision(self) -> int:
        return self._revision

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _bump(self) -> int:
        self._revision += 1
        return self._revision

    # --- items ---------------------------------------------------------------------------------------------

    def insert_items(self, items: Sequence[NewItem]) -> tuple[list[tuple[int, bool]], int]:
        out: list[tuple[int, bool]] = []
        with self._lock:
            for item in items:
                key = (item.scope.scope, item.scope.key, item.kind, item.hash)
                if key in self._by_hash:
                    out.append((self._by_hash[key], False))
                    continue
                item_id = self._new_id()
                self._items[item_id] = MemoryItem(
                    id=item_id,
                    text=item.text,
                    kind=item.kind,
                    source=item.source,
                    scope=item.scope,
                    topic=item.topic,
                    tags=item.tags,
                    created_at=item.created_at,
                    updated_at=item.created_at,
                    expires_at=item.expires_at,
                    flags=item.flags,
                )
                self._extra[item_id] = (item.terms, item.vector, item.hash)
                self._by_hash[key] = item_id
                out.append((item_id, True))
            return out, self._bump()

    def find_by_hash(self, scope: ScopeRef, kind: str, digest: str) -> int | None:
        return self._by_hash.get((scope.scope, scope.key, kind, digest))

    def update_item(self, item_id: int, change: ItemChange) -> int:
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                return self._bump()
            terms, vector, digest = self._extra[item_id]
            updated = replace(
                item,
                updated_at=change.updated_at,
                tags=change.tags,
                expires_at=change.expires_at,
                seen=item.seen + 1,
                flags=item.flags if change.flags is None else change.flags,
                topic=item.topic if change.topic is None else change.topic,
            )
            if change.text is not None:
                del self._by_hash[(item.scope.scope, item.scope.key, item.kind, digest)]
                digest = text_hash(change.text)
                self._by_hash[(item.scope.scope, item.scope.key, item.kind, digest)] = item_id
                updated = replace(updated, text=change.text)
                terms, vector = change.terms or "", change.vector
            self._items[item_id] = updated
            self._extra[item_id] = (terms, vector, digest)
            return self._bump()

    def get_items(self, ids: Sequence[int]) -> dict[int, MemoryItem]:
        return {i: self._items[i] for i in ids if i in self._items}

    def delete_items(self, ids: Sequence[int]) -> tuple[int, int]:
        with self._lock:
            deleted = 0
            for item_id in dict.fromkeys(ids):
                item = self._items.pop(item_id, None)
                if item is None:
                    continue
                _, _, digest = self._extra.pop(item_id)
                del self._by_hash[(item.scope.scope, item.scope.key, item.kind, digest)]
                deleted += 1
            return deleted, self._bump()

    def expired_item_ids(self, now: float) -> list[int]:
        return [i for i, it in self._items.items() if it.expires_at is not None and it.expires_at <= now]

    def scan_items(self) -> Iterator[IndexRow]:
        with self._lock:
            rows = [(item, self._extra[i]) for i, item in sorted(self._items.items())]
        for item, (terms, vector, _) in rows:
            yield IndexRow.of(item, terms, vector)

    def set_item_vectors(self, vectors: Sequence[tuple[int, bytes | None]]) -> None:
        with self._lock:
            for item_id, vector in vectors:
                if item_id in self._extra:
                    terms, _, digest = self._extra[item_id]
                    self._extra[item_id] = (terms, vector, digest)

    # --- knowledge graph -----------------------------------------------------------------------------------

    def find_entities(self, scope: ScopeRef, names: Sequence[str]) -> dict[str, EntityRecord]:
        keys = {normal_form(n) for n in names}
        return {
            normal_form(e.name): e
            for e in self._entities.values()
            if e.scope == scope and normal_form(e.name) in keys
        }

    def get_entities(self, ids: Sequence[int]) -> dict[int, EntityRecord]:
        return {i: self._entities[i] for i in ids if i in self._entities}

    def insert_entity(
        self, scope: ScopeRef, name: str, type_: str, now: float, flags: tuple[str, ...]
    ) -> tuple[int, int]:
        with self._lock:
            existing = self.find_entities(scope, [name]).get(normal_form(name))
            if existing is not None:
                return existing.id, self._bump()
            entity_id = self._new_id()
            self._entities[entity_id] = EntityRecord(entity_id, scope, name, type_, (), now, now, flags)
            self._entity_extra[entity_id] = ("", None)
            return entity_id, self._bump()

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
        with self._lock:
            entity = self._entities[entity_id]
            self._entities[entity_id] = replace(
                entity, type=type_ or entity.type, flags=flags, updated_at=now
            )
            self._entity_extra[entity_id] = (terms, vector)
            return self._bump()

    def add_observations(self, entity_id: int, texts: Sequence[str], now: float) -> tuple[int, int]:
        with self._lock:
            entity = self._entities[entity_id]
            seen = {text_hash(o) for o in entity.observations}
            fresh: list[str] = []
            for text in texts:
                if text_hash(text) not in seen:
                    seen.add(text_hash(text))
                    fresh.append(text)
            self._entities[entity_id] = replace(entity, observations=(*entity.observations, *fresh))
            return len(fresh), self._bump()

    def add_relations(
        self, scope: ScopeRef, relations: Sequence[tuple[int, int, str]], now: float
    ) -> tuple[int, int]:
        with self._lock:
            added = 0
            for edge in relations:
                if edge not in self._relations:
                    self._relations[edge] = now
                    added += 1
            return added, self._bump()

    def neighbors(self, entity_id: int, depth: int, limit: int) -> list[tuple[int, int]]:
        adjacent: dict[int, set[int]] = {}
        for source, target, _ in self._relations:
            adjacent.setdefault(source, set()).add(target)
            adjacent.setdefault(target, set()).add(source)
        hops = {entity_id: 0}
        frontier = [entity_id]
        for hop in range(1, depth + 1):
            frontier = sorted({n for f in frontier for n in adjacent.get(f, ()) if n not in hops})
            hops.update((n, hop) for n in frontier)
        return sorted(hops.items(), key=lambda kv: (kv[1], kv[0]))[:limit]

    def relations_among(self, ids: Sequence[int]) -> list[RelationRecord]:
        wanted = set(ids)
        return [
            RelationRecord(self._entities[s].name, self._entities[t].name, type_, created)
            for (s, t, type_), created in self._relations.items()
            if s in wanted and t in wanted
        ]

    def scan_entities(self) -> Iterator[IndexRow]:
        for entity_id, entity in sorted(self._entities.items()):
            terms, vector = self._entity_extra[entity_id]
            yield IndexRow(
                entity_id,
                entity.scope,
                entity.type,
                None,
                (),
                entity.created_at,
                entity.updated_at,
                None,
                terms,
                vector,
            )
