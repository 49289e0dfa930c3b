"""The store interface every backend implements: durable items, entities and relations, nothing ranked.

Ranking lives above the store, in an in-memory index built from :meth:`MemoryStore.scan_items`; a store only
persists and fetches. Every write returns the store's new *revision* (a counter bumped by each write
transaction), so an index can tell its own writes from another process's and reload only for the latter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from toolmesh.servers.memory.items import (
    EntityRecord,
    IndexRow,
    ItemChange,
    MemoryItem,
    NewItem,
    RelationRecord,
    ScopeRef,
)

__all__ = ["MemoryStore"]


@runtime_checkable
class MemoryStore(Protocol):
    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql`` or ``memory``."""
        ...

    @property
    def location(self) -> str:
        """Where the data is, for status output (a path, a URL without password, or ``memory``)."""
        ...

    def close(self) -> None: ...

    def schema_version(self) -> int: ...

    def revision(self) -> int: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    # --- items ---------------------------------------------------------------------------------------------

    def insert_items(self, items: Sequence[NewItem]) -> tuple[list[tuple[int, bool]], int]:
        """Store ``items``; per item its id and whether it is new (False: an exact duplicate already was
        there, same scope, kind and normalised text); and the new revision."""
        ...

    def find_by_hash(self, scope: ScopeRef, kind: str, digest: str) -> int | None: ...

    def update_item(self, item_id: int, change: ItemChange) -> int:
        """Apply a refresh or rewrite; returns the new revision."""
        ...

    def get_items(self, ids: Sequence[int]) -> dict[int, MemoryItem]: ...

    def delete_items(self, ids: Sequence[int]) -> tuple[int, int]:
        """(how many existed and were deleted, new revision)."""
        ...

    def expired_item_ids(self, now: float) -> list[int]: ...

    def scan_items(self) -> Iterator[IndexRow]: ...

    def set_item_vectors(self, vectors: Sequence[tuple[int, bytes | None]]) -> None:
        """Replace stored vectors (after a change of embedding model); not a revision change."""
        ...

    # --- knowledge graph -----------------------------------------------------------------------------------

    def find_entities(self, scope: ScopeRef, names: Sequence[str]) -> dict[str, EntityRecord]:
        """The entities of ``scope`` with these names, keyed by :func:`~..items.normal_form` of the name."""
        ...

    def get_entities(self, ids: Sequence[int]) -> dict[int, EntityRecord]: ...

    def insert_entity(
        self, scope: ScopeRef, name: str, type_: str, now: float, flags: tuple[str, ...]
    ) -> tuple[int, int]:
        """(entity id, revision); an entity of that name already in the scope keeps its id."""
        ...

    def update_entity(
        self,
        entity_id: int,
        *,
        type_: str | None,
        terms: str,
        vector: bytes | None,
        flags: tuple[str, ...],
        now: float,
    ) -> int: ...

    def add_observations(self, entity_id: int, texts: Sequence[str], now: float) -> tuple[int, int]:
        """(observations added, not counting exact duplicates; revision)."""
        ...

    def add_relations(
        self, scope: ScopeRef, relations: Sequence[tuple[int, int, str]], now: float
    ) -> tuple[int, int]:
        """(relations added, not counting existing ones; revision). Rows are (source id, target id, type)."""
        ...

    def neighbors(self, entity_id: int, depth: int, limit: int) -> list[tuple[int, int]]:
        """(entity id, hops) of the entities within ``depth`` relations of ``entity_id`` (either direction),
        nearest first, the start included at hop 0, at most ``limit``."""
        ...

    def relations_among(self, ids: Sequence[int]) -> list[RelationRecord]: ...

    def scan_entities(self) -> Iterator[IndexRow]: ...
