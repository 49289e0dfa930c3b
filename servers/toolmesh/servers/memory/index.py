"""The in-memory recall index: position-aligned filter columns, BM25 segments and a vector matrix.

Memories are written one at a time between recalls, so the index is incremental, like a small Lucene:
a large frozen BM25 segment plus a small tail segment of recent writes, both scored with the corpus's
statistics (``Bm25Stats``) so their scores compare. The tail is rebuilt lazily (it is small); when it
grows past an eighth of the frozen part, or deleted rows pile up, everything is compacted and rebuilt.
A deletion is a tombstone; an update is a tombstone plus an append. Filters (scope, kind, topic, tags,
time, expiry) are numpy masks over the positions, applied inside both searches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolmesh.servers.docs.bm25 import Bm25Index
from toolmesh.servers.memory.items import IndexRow, ScopeRef

__all__ = ["IndexFilter", "RecallIndex"]

Array = np.ndarray[Any, Any]
_SCOPE_CODES = {"global": 0, "user": 1, "context": 2}
_MIN_TAIL = 2048


@dataclass(frozen=True, slots=True)
class IndexFilter:
    """Which rows a search may return; every field combines with AND (``scopes`` is an OR of scopes)."""

    scopes: tuple[ScopeRef, ...]
    kinds: frozenset[str] | None = None
    topic: str | None = None
    tags: frozenset[str] | None = None  # any of these
    since: float | None = None  # created at or after
    until: float | None = None  # created before
    now: float | None = None  # rows expired at this time are left out


class _Codes:
    """Small integer codes for repeated strings (scope keys, kinds, topics), so filters are int compares."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def of(self, value: str) -> int:
        return self.codes.setdefault(value, len(self.codes))

    def get(self, value: str) -> int:
        return self.codes.get(value, -1)


class RecallIndex:
    def __init__(self, dim: int | None) -> None:
        self.dim = dim
        self._keys, self._kinds, self._topics = _Codes(), _Codes(), _Codes()
        self.load([])

    def load(self, rows: Iterable[IndexRow]) -> None:
        """Replace the whole index with ``rows``."""
        rows = list(rows)
        cap = max(1024, len(rows) * 5 // 4)
        self._n = 0
        self._ids = np.zeros(cap, dtype=np.int64)
        self._alive = np.zeros(cap, dtype=bool)
        self._scope = np.zeros(cap, dtype=np.int8)
        self._key = np.zeros(cap, dtype=np.int32)
        self._kind = np.zeros(cap, dtype=np.int32)
        self._topic = np.full(cap, -1, dtype=np.int32)
        self._created = np.zeros(cap, dtype=np.float64)
        self._updated = np.zeros(cap, dtype=np.float64)
        self._expires = np.full(cap, math.inf, dtype=np.float64)
        self._has_vec = np.zeros(cap, dtype=bool)
        self._vectors = np.zeros((cap, self.dim or 0), dtype=np.float32)
        self._terms: list[str] = []
        self._tags: dict[str, list[int]] = {}
        self._pos: dict[int, int] = {}
        self._dead = 0
        for row in rows:
            self._append(row)
        self._main = Bm25Index.build(enumerate(self._terms))
        self._main_n = self._n
        self._tail: Bm25Index | None = None

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self._pos

    def _grow(self) -> None:
        cap = len(self._ids) * 2
        for name in (
            "_ids",
            "_alive",
            "_scope",
            "_key",
            "_kind",
            "_topic",
            "_created",
            "_updated",
            "_has_vec",
        ):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        self._topic[self._n :] = -1
        expires = np.full(cap, math.inf)
        expires[: self._n] = self._expires[: self._n]
        self._expires = expires
        vectors = np.zeros((cap, self._vectors.shape[1]), dtype=np.float32)
        vectors[: self._n] = self._vectors[: self._n]
        self._vectors = vectors

    def _append(self, row: IndexRow) -> None:
        if self._n == len(self._ids):
            self._grow()
        p = self._n
        self._ids[p] = row.id
        self._alive[p] = True
        self._scope[p] = _SCOPE_CODES[row.scope.scope]
        self._key[p] = self._keys.of(row.scope.key)
        self._kind[p] = self._kinds.of(row.kind)
        self._topic[p] = self._topics.of(row.topic) if row.topic else -1
        self._created[p] = row.created_at
        self._updated[p] = row.updated_at
        self._expires[p] = math.inf if row.expires_at is None else row.expires_at
        if row.vector is not None and self.dim:
            vector = np.frombuffer(row.vector, dtype=np.float32)
            if len(vector) == self.dim:
                self._vectors[p] = vector
                self._has_vec[p] = True
        for tag in row.tags:
            self._tags.setdefault(tag, []).append(p)
        self._terms.append(row.terms)
        self._pos[row.id] = p
        self._n += 1

    def upsert(self, rows: Sequence[IndexRow]) -> None:
        """Add rows; a row whose id is indexed already replaces it."""
        self.remove([r.id for r in rows if r.id in self._pos])
        for row in rows:
            self._append(row)
        self._tail = None
        tail = self._n - self._main_n
        if tail > max(_MIN_TAIL, self._main_n // 8):
            self._compact()

    def remove(self, ids: Sequence[int]) -> None:
        for item_id in ids:
            p = self._pos.pop(item_id, None)
            if p is not None:
                self._alive[p] = False
                self._dead += 1
        if self._dead > max(_MIN_TAIL, self._n // 4):
            self._compact()

    def _compact(self) -> None:
        live = [p for p in range(self._n) if self._alive[p]]
        tags_of: dict[int, list[str]] = {}
        for tag, positions in self._tags.items():
            for p in positions:
                tags_of.setdefault(p, []).append(tag)
        keys = {v: k for k, v in self._keys.codes.items()}
        kinds = {v: k for k, v in self._kinds.codes.items()}
        topics = {v: k for k, v in self._topics.codes.items()}
        scopes = {v: k for k, v in _SCOPE_CODES.items()}
        rows = [
            IndexRow(
                id=int(self._ids[p]),
                scope=ScopeRef(scopes[int(self._scope[p])], keys[int(self._key[p])]),  # type: ignore[arg-type]
                kind=kinds[int(self._kind[p])],
                topic=topics.get(int(self._topic[p])),
                tags=tuple(tags_of.get(p, ())),
                created_at=float(self._created[p]),
                updated_at=float(self._updated[p]),
                expires_at=None if math.isinf(self._expires[p]) else float(self._expires[p]),
                terms=self._terms[p],
                vector=self._vectors[p].tobytes() if self._has_vec[p] else None,
            )
            for p in live
        ]
        self.load(rows)

    # --- searching -----------------------------------------------------------------------------------------

    def mask(self, f: IndexFilter) -> Array:
        n = self._n
        scoped = np.zeros(n, dtype=bool)
        for ref in f.scopes:
            scoped |= (self._scope[:n] == _SCOPE_CODES[ref.scope]) & (
                self._key[:n] == self._keys.get(ref.key)
            )
        m = self._alive[:n] & scoped
        if f.kinds is not None:
            m &= np.isin(self._kind[:n], [self._kinds.get(k) for k in f.kinds])
        if f.topic is not None:
            m &= self._topic[:n] == self._topics.get(f.topic)
        if f.tags is not None:
            tagged = np.zeros(n, dtype=bool)
            for tag in f.tags:
                tagged[self._tags.get(tag, [])] = True
            m &= tagged
        if f.since is not None:
            m &= self._created[:n] >= f.since
        if f.until is not None:
            m &= self._created[:n] < f.until
        if f.now is not None:
            m &= self._expires[:n] > f.now
        return m

    def ids(self, mask: Array) -> list[int]:
        return [int(i) for i in self._ids[: self._n][mask]]

    def bm25(self, terms: list[str], mask: Array, limit: int) -> list[tuple[int, float]]:
        """(id, score) of the best BM25 rows under ``mask``, from both segments."""
        if not terms:
            return []
        if self._tail is None and self._n > self._main_n:
            rows = ((p, self._terms[p]) for p in range(self._main_n, self._n))
            self._tail = Bm25Index.build(rows, corpus=self._main.stats)
        hits = self._main.search(terms, limit, mask=mask[: self._main_n])
        if self._tail is not None:
            hits += self._tail.search(terms, limit, mask=mask[self._main_n :])
        hits.sort(key=lambda h: -h[1])
        return [(int(self._ids[p]), score) for p, score in hits[:limit]]

    def dense(self, vector: Array, mask: Array, limit: int) -> list[tuple[int, float]]:
        """(id, cosine) of the nearest rows with a vector under ``mask``."""
        n = self._n
        if not self.dim or n == 0:
            return []
        usable = mask & self._has_vec[:n]
        count = int(usable.sum())
        if count == 0:
            return []
        query = vector.astype(np.float32, copy=False)
        if count < n // 4:  # a small scope of a big store: scan only its rows
            rows = np.flatnonzero(usable)
            scores = self._vectors[rows] @ query
        else:  # the scan is memory-bound (n x dim floats): one pass over the whole matrix
            rows = np.arange(n)
            scores = self._vectors[:n] @ query
            scores[~usable] = -np.inf
        top = np.argpartition(-scores, min(limit, count) - 1)[: min(limit, count)]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._ids[rows[p]]), float(scores[p])) for p in top]

    def vector(self, item_id: int) -> Array | None:
        p = self._pos.get(item_id)
        return self._vectors[p] if p is not None and self._has_vec[p] else None

    def updated_at(self, ids: Sequence[int]) -> dict[int, float]:
        return {i: float(self._updated[self._pos[i]]) for i in ids if i in self._pos}

    def terms_of(self, item_id: int) -> str | None:
        p = self._pos.get(item_id)
        return None if p is None else self._terms[p]

    def kinds(self, ids: Sequence[int]) -> dict[int, str]:
        names = {v: k for k, v in self._kinds.codes.items()}
        return {i: names[int(self._kind[self._pos[i]])] for i in ids if i in self._pos}
