"""An in-memory BM25 impact index over the terms stored in SQLite's FTS5 table.

FTS5 stores the analysed terms durably, but its ``bm25()`` ranking visits and scores every matching row inside
SQLite: about 100 ms per OR-query at 10k chunks and growing linearly. This index holds, per term, the
positions and precomputed BM25 weights of the chunks that contain it (Lucene's idf, k1=1.2, b=0.75), so a
query is a few numpy gathers and one partial sort. It is built lazily per collection and rebuilt after writes.

An index can also be one segment of a larger corpus (the memory server keeps a big frozen segment and a small
one for recent writes): built with the other segments' :class:`Bm25Stats`, its idf and length norm are the
corpus's, so scores from different segments compare.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Bm25Index", "Bm25Stats"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class Bm25Stats:
    """Corpus statistics: documents, their summed length and each term's document frequency."""

    docs: int = 0
    total_length: float = 0.0
    df: Mapping[str, int] = field(default_factory=dict)


class Bm25Index:
    def __init__(
        self, ids: Array, postings: dict[str, tuple[Array, Array]], stats: Bm25Stats | None = None
    ) -> None:
        self.ids = ids
        self.postings = postings
        self.stats = stats or Bm25Stats(len(ids), 0.0, {t: len(p[0]) for t, p in postings.items()})

    @classmethod
    def build(
        cls,
        rows: Iterable[tuple[int, str]],
        *,
        k1: float = 1.2,
        b: float = 0.75,
        corpus: Bm25Stats | None = None,
    ) -> Bm25Index:
        """From (chunk id, space-separated terms) rows; ``corpus`` counts documents outside these rows that
        belong to the same corpus (their statistics join these rows' in idf and average length)."""
        ids: list[int] = []
        lengths: list[int] = []
        raw: dict[str, tuple[list[int], list[int]]] = {}
        for position, (chunk_id, terms) in enumerate(rows):
            ids.append(chunk_id)
            tokens = terms.split()
            lengths.append(len(tokens))
            for term, count in Counter(tokens).items():
                entry = raw.get(term)
                if entry is None:
                    entry = raw[term] = ([], [])
                entry[0].append(position)
                entry[1].append(count)
        n = len(ids)
        doc_len = np.asarray(lengths, dtype=np.float32)
        other = corpus or Bm25Stats()
        total_n = n + other.docs
        avg = (float(doc_len.sum()) + other.total_length) / total_n if total_n else 1.0
        norm = k1 * (1.0 - b + b * doc_len / max(avg, 1e-9))
        postings: dict[str, tuple[Array, Array]] = {}
        for term, (positions, tfs) in raw.items():
            pos = np.asarray(positions, dtype=np.int32)
            tf = np.asarray(tfs, dtype=np.float32)
            df = len(positions) + other.df.get(term, 0)
            idf = np.log(1.0 + (total_n - df + 0.5) / (df + 0.5))
            postings[term] = (pos, (idf * tf * (k1 + 1.0) / (tf + norm[pos])).astype(np.float32))
        stats = Bm25Stats(n, float(doc_len.sum()), {t: len(p[0]) for t, p in raw.items()})
        return cls(np.asarray(ids, dtype=np.int64), postings, stats)

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self, terms: list[str], limit: int, allowed: Array | None = None, *, mask: Array | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, score) of the best ``limit`` chunks containing any term; ``allowed`` restricts chunk
        ids, ``mask`` (one bool per indexed row, in build order) restricts rows."""
        hits = [self.postings[t] for t in dict.fromkeys(terms) if t in self.postings]
        if not hits or limit <= 0:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for positions, weights in hits:
            scores[positions] += weights  # positions are unique within one term's postings
        if allowed is not None:
            scores[~np.isin(self.ids, allowed)] = 0.0
        if mask is not None:
            scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > limit:
            top = np.argpartition(-scores[candidates], limit - 1)[:limit]
            candidates = candidates[top]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in order]
