"""Hybrid ranking for recall: BM25 and dense candidates, reciprocal rank fusion, then time decay.

The pieces are the docs engine's — the shared analyser, its BM25 index, its embedders and its
:func:`~toolmesh.servers.docs.search.fuse_rrf` — put together for short memories. Without an embedder (or
for a Chinese query on an English-only model) the dense path is left out and BM25 ranks alone.

Time decay scales a fused score by ``(1 - w) + w * 0.5 ** (age / half_life)``: an episodic memory (a turn, a
tool call) fades over days, a fact or a correction does not. Age counts from the last time the memory was
remembered, so repeating something refreshes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolmesh.protocols.text import Analyzer, contains_cjk
from toolmesh.servers.docs.embedders import Embedder
from toolmesh.servers.docs.search import fuse_rrf
from toolmesh.servers.memory.index import RecallIndex

__all__ = ["Ranked", "Ranker", "Ranking"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Ranked:
    id: int
    score: float
    fused: float
    decay: float
    bm25_rank: int | None
    dense_rank: int | None


@dataclass(slots=True)
class Ranking:
    hits: list[Ranked]
    paths: list[str]
    notes: list[str] = field(default_factory=list)


class Ranker:
    def __init__(
        self,
        analyzer: Analyzer,
        embedder: Embedder | None,
        *,
        candidates: int = 100,
        rrf_k: int = 60,
        dense_weight: float = 0.5,
        decay_weight: float = 0.05,
        half_life_days: Mapping[str, float] | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.decay_weight = decay_weight
        self.half_life_days = dict(half_life_days or {})

    def query_vector(self, query: str, notes: list[str]) -> np.ndarray[Any, Any] | None:
        if self.embedder is None:
            notes.append("dense path off: no embedding model (BM25 only)")
            return None
        if contains_cjk(query) and not self.embedder.multilingual:
            notes.append(f"dense path skipped: {self.embedder.name} is English-only and the query is CJK")
            return None
        return self.embedder.embed_query(query)

    def rank(
        self,
        index: RecallIndex,
        query: str,
        mask: np.ndarray[Any, Any],
        k: int,
        now: float,
        *,
        mode: str = "hybrid",
    ) -> Ranking:
        """The best ``k`` ids under ``mask``, ``mode`` one of hybrid, bm25, dense."""
        outcome = Ranking([], [])
        depth = max(self.candidates, k)
        lists: list[tuple[list[tuple[int, float]], float]] = []
        bm25: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        if mode in ("hybrid", "bm25"):
            bm25 = index.bm25(self.analyzer.query_terms(query), mask, depth)
            outcome.paths.append("bm25")
            lists.append((bm25, 1.0 - self.dense_weight if mode == "hybrid" else 1.0))
        if mode in ("hybrid", "dense"):
            vector = self.query_vector(query, outcome.notes)
            if vector is not None:
                dense = index.dense(vector, mask, depth)
                outcome.paths.append("dense")
                lists.append((dense, self.dense_weight if mode == "hybrid" else 1.0))
        fused = fuse_rrf([entry for entry in lists if entry[0]], self.rrf_k)
        bm25_rank = {i: r for r, (i, _) in enumerate(bm25, start=1)}
        dense_rank = {i: r for r, (i, _) in enumerate(dense, start=1)}
        updated = index.updated_at(list(fused))
        kinds = index.kinds(list(fused))
        scored: list[Ranked] = []
        for item_id, score in fused.items():
            decay = self.decay(kinds.get(item_id), now - updated.get(item_id, now))
            scored.append(
                Ranked(item_id, score * decay, score, decay, bm25_rank.get(item_id), dense_rank.get(item_id))
            )
        scored.sort(key=lambda r: (-r.score, -updated.get(r.id, 0.0), r.id))
        outcome.hits = scored[:k]
        return outcome

    def decay(self, kind: str | None, age_seconds: float) -> float:
        half_life = self.half_life_days.get(kind or "")
        if not half_life or self.decay_weight <= 0:
            return 1.0
        fading = 0.5 ** (max(0.0, age_seconds) / (half_life * _DAY))
        return float((1.0 - self.decay_weight) + self.decay_weight * fading)
