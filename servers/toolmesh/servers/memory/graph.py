"""The knowledge graph: entities with observations, typed relations, hybrid search, neighbourhoods.

It lives in the memory's database and follows its rules: every entity belongs to one scope, relations join
entities of the same scope (so a walk never leaves it), observations are screened like memories (secrets
refused, instructions flagged). ``search_graph`` ranks entities by name, type and observations with the same
hybrid ranker as recall; ``neighbors`` is the store's recursive walk (a CTE in SQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from toolmesh.servers.memory.embedding import embed_bytes
from toolmesh.servers.memory.errors import MemoryInputError, MemoryLimitExceeded, MemoryNotFound
from toolmesh.servers.memory.guard import check_label, check_text
from toolmesh.servers.memory.index import IndexFilter, RecallIndex
from toolmesh.servers.memory.items import EntityRecord, IndexRow, RelationRecord, ScopeRef, normal_form

if TYPE_CHECKING:
    from toolmesh.servers.memory.service import Memory

__all__ = ["EntityChange", "EntityHit", "EntityIn", "KnowledgeGraph", "Neighborhood", "RelationIn"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class EntityIn:
    name: str
    type: str | None = None
    observations: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class RelationIn:
    source: str
    target: str
    type: str


@dataclass(frozen=True, slots=True)
class EntityChange:
    entity: EntityRecord
    status: str  # created | updated | unchanged
    observations_added: int


@dataclass(frozen=True, slots=True)
class EntityHit:
    entity: EntityRecord
    score: float


@dataclass(frozen=True, slots=True)
class Neighborhood:
    start: EntityRecord
    entities: list[tuple[EntityRecord, int]]  # with hops from the start
    relations: list[RelationRecord]
    truncated: bool


class KnowledgeGraph:
    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.index = RecallIndex(memory.embedder.dim if memory.embedder else None)

    def reload(self) -> None:
        self.index.load(self.memory.store.scan_entities())

    def reembed(self) -> None:
        entities = self.memory.store.get_entities([row.id for row in self.memory.store.scan_entities()])
        for entity in entities.values():
            self._save(entity, None)

    def _save(self, entity: EntityRecord, type_: str | None) -> EntityRecord:
        """Re-derive the entity's terms and vector from its current document, store them, index them."""
        m = self.memory
        document = entity.document()
        terms = " ".join(m.analyzer.terms(document))
        [vector] = embed_bytes(m.embedder, [document[: m.settings.max_text_chars]])
        flags = entity.flags
        m.tracker.wrote(
            m.store.update_entity(
                entity.id, type_=type_, terms=terms, vector=vector, flags=flags, now=m.clock()
            )
        )
        fresh = m.store.get_entities([entity.id])[entity.id]
        row = IndexRow(
            fresh.id,
            fresh.scope,
            fresh.type,
            None,
            (),
            fresh.created_at,
            fresh.updated_at,
            None,
            terms,
            vector,
        )
        self.index.upsert([row])
        return fresh

    def _cap(self, n: int, what: str) -> None:
        if n > self.memory.settings.max_items_per_call:
            raise MemoryLimitExceeded(
                f"{n} {what} in one call; the limit is {self.memory.settings.max_items_per_call}",
                hint="Send them in several calls.",
            )

    def _observations(self, texts: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
        self._cap(len(texts), "observations")
        out: list[str] = []
        flags: list[str] = []
        for text in texts:
            cleaned, found = check_text(
                text, max_chars=self.memory.settings.max_text_chars, what="an observation"
            )
            out.append(cleaned)
            flags.extend(found)
        return out, tuple(dict.fromkeys(flags))

    def add_entities(
        self, scope: ScopeRef, entities: Sequence[EntityIn], progress: Progress | None = None
    ) -> list[EntityChange]:
        self._cap(len(entities), "entities")
        checked = []
        for e in entities:
            name = check_label(e.name, what="an entity name", max_chars=200)
            if not name:
                raise MemoryInputError("an entity name is empty", hint="Name every entity.")
            observations, flags = self._observations(list(e.observations))
            checked.append((name, check_label(e.type, what="an entity type"), observations, flags))
        m = self.memory
        out: list[EntityChange] = []
        with m.lock:
            m.tracker.check()
            known = m.store.find_entities(scope, [c[0] for c in checked])
            for done, (name, type_, observations, flags) in enumerate(checked, start=1):
                existing = known.get(normal_form(name))
                if existing is None and not type_:
                    raise MemoryInputError(
                        f"entity {name!r} is new and has no type", hint="Give it a type, e.g. person."
                    )
                now = m.clock()
                if existing is None:
                    entity_id, revision = m.store.insert_entity(scope, name, type_ or "", now, flags)
                    m.tracker.wrote(revision)
                else:
                    entity_id = existing.id
                added, revision = m.store.add_observations(entity_id, observations, now)
                m.tracker.wrote(revision)
                entity = m.store.get_entities([entity_id])[entity_id]
                entity = replace(entity, flags=tuple(dict.fromkeys((*entity.flags, *flags))))
                changed = existing is None or added > 0 or (type_ is not None and type_ != existing.type)
                if changed:
                    entity = self._save(entity, type_)
                status = "created" if existing is None else "updated" if changed else "unchanged"
                out.append(EntityChange(entity, status, added))
                known[normal_form(name)] = entity
                if progress is not None:
                    progress(done, len(checked))
        return out

    def add_observations(self, scope: ScopeRef, entity: str, observations: Sequence[str]) -> EntityChange:
        texts, _ = self._observations(observations)
        if not texts:
            raise MemoryInputError(
                "no observations given", hint="Pass at least one sentence about the entity."
            )
        found = self._entities(scope, [entity])
        return self.add_entities(scope, [EntityIn(found[0].name, None, texts)])[0]

    def _entities(self, scope: ScopeRef, names: Sequence[str]) -> list[EntityRecord]:
        with self.memory.lock:
            self.memory.tracker.check()
            known = self.memory.store.find_entities(scope, names)
        missing = [n for n in names if normal_form(n) not in known]
        if missing:
            raise MemoryNotFound(
                f"no entity named {', '.join(repr(n[:80]) for n in missing[:5])} in {scope.render()}",
                hint="Create it with add_entities first, or find the exact name with search_graph.",
            )
        return [known[normal_form(n)] for n in names]

    def add_relations(self, scope: ScopeRef, relations: Sequence[RelationIn]) -> tuple[int, int]:
        """(added, already there)."""
        self._cap(len(relations), "relations")
        types = [check_label(r.type, what="a relation type") for r in relations]
        if any(not t for t in types):
            raise MemoryInputError("a relation type is empty", hint="Name the relation, e.g. works_at.")
        entities = self._entities(
            scope, list(dict.fromkeys(n for r in relations for n in (r.source, r.target)))
        )
        ids = {normal_form(e.name): e.id for e in entities}
        rows = [
            (ids[normal_form(r.source)], ids[normal_form(r.target)], str(t))
            for r, t in zip(relations, types, strict=True)
        ]
        m = self.memory
        with m.lock:
            added, revision = m.store.add_relations(scope, rows, m.clock())
            m.tracker.wrote(revision)
        return added, len(set(rows)) - added

    def search(
        self, query: str, scopes: tuple[ScopeRef, ...], k: int, types: Sequence[str] | None = None
    ) -> tuple[list[EntityHit], list[str], list[str]]:
        """(hits, retrieval paths, notes)."""
        m = self.memory
        with m.lock:
            m.tracker.check()
            wanted = frozenset(check_label(t, what="a type") or "" for t in types) if types else None
            mask = self.index.mask(IndexFilter(scopes, kinds=wanted))
            ranking = m.ranker.rank(self.index, query, mask, k, m.clock(), mode="hybrid")
            entities = m.store.get_entities([r.id for r in ranking.hits])
        hits = [EntityHit(entities[r.id], r.score) for r in ranking.hits if r.id in entities]
        return hits, ranking.paths, ranking.notes

    def neighbors(self, scope: ScopeRef, entity: str, depth: int) -> Neighborhood:
        s = self.memory.settings
        if not 1 <= depth <= s.max_depth:
            raise MemoryLimitExceeded(f"depth={depth} is out of range", hint=f"Use 1 to {s.max_depth}.")
        [start] = self._entities(scope, [entity])
        with self.memory.lock:
            found = self.memory.store.neighbors(start.id, depth, s.max_neighbors + 1)
            truncated = len(found) > s.max_neighbors
            found = found[: s.max_neighbors]
            records = self.memory.store.get_entities([i for i, _ in found])
            relations = self.memory.store.relations_among([i for i, _ in found])
        entities = [(records[i], hops) for i, hops in found if i in records]
        return Neighborhood(start, entities, relations, truncated)
