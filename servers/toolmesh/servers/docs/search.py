"""Multi-path retrieval: glossary rewrite → BM25 (FTS5) and dense → fusion → optional rerank → snippets.

Fusion is distribution-based score fusion (``dbsf``, the default: each path's scores scaled by their
mean ± 3 standard deviations, then a weighted sum), weighted min-max score fusion (``minmax``) or reciprocal
rank fusion (``rrf``, k=60 by default). DBSF is the best of the three on both benchmark sets, English and
Chinese, with no per-corpus tuning (docs/benchmarks-docs.md). A path that cannot serve a query is left out
rather than diluting the other: the dense path is skipped for CJK
queries when the model is English-only, and for collections embedded with another model.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal, Protocol

from toolmesh.protocols.glossary import Glossary, Rewrite
from toolmesh.protocols.text import analyzer_named, contains_cjk
from toolmesh.servers.docs.embedders import Embedder
from toolmesh.servers.docs.stores.base import ChunkRecord, CollectionInfo, SearchFilter, Store, Vector

__all__ = [
    "Fusion",
    "Hit",
    "Mode",
    "Reranker",
    "SearchOutcome",
    "Searcher",
    "fuse_dbsf",
    "fuse_minmax",
    "fuse_rrf",
    "snippet",
]

Mode = Literal["hybrid", "bm25", "dense"]
Fusion = Literal["dbsf", "minmax", "rrf"]
Ranked = list[tuple[int, float]]


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    @property
    def name(self) -> str: ...

    def score(self, query: str, passages: list[str]) -> list[float]: ...


@dataclass(slots=True)
class Hit:
    chunk: ChunkRecord
    fused: float
    bm25: float | None = None
    bm25_rank: int | None = None
    dense: float | None = None
    dense_rank: int | None = None
    rerank: float | None = None
    snippet: str = ""


@dataclass(slots=True)
class SearchOutcome:
    query: str
    rewritten: str
    rewrites: list[Rewrite]
    hits: list[Hit]
    paths: list[str]
    notes: list[str] = field(default_factory=list)


def fuse_rrf(lists: Sequence[tuple[Ranked, float]], k: int = 60) -> dict[int, float]:
    """Σ weight / (k + rank) over the ranked lists (rank starts at 1)."""
    fused: dict[int, float] = {}
    for ranked, weight in lists:
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return fused


def _weighted_sum(
    lists: Sequence[tuple[Ranked, float]], scale: Callable[[Ranked], Ranked]
) -> dict[int, float]:
    """Σ weight × scaled score over the lists; a chunk missing from a list gets 0 there."""
    fused: dict[int, float] = {}
    for ranked, weight in lists:
        for chunk_id, norm in scale(ranked):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * norm
    return fused


def _minmax_scaled(ranked: Ranked) -> Ranked:
    if not ranked:
        return []
    scores = [s for _, s in ranked]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return [(chunk_id, (score - lo) / span if span > 0 else 1.0) for chunk_id, score in ranked]


def _dbsf_scaled(ranked: Ranked) -> Ranked:
    finite = [(cid, s) for cid, s in ranked if math.isfinite(s)]
    if not finite:
        return []
    scores = [s for _, s in finite]
    n = len(scores)
    mean = math.fsum(scores) / n
    sigma = math.sqrt(math.fsum((x - mean) * (x - mean) for x in scores) / (n - 1)) if n > 1 else 0.0
    # Ties computed in floating point leave a sigma of rounding noise, not a real spread; a sigma that
    # overflows (scores near the float limit) has no usable scale either.
    if sigma <= 1e-9 * max(1.0, abs(mean)) or not math.isfinite(sigma):
        return [(chunk_id, 1.0) for chunk_id, _ in finite]
    return [(chunk_id, 0.5 + (score - mean) / (6 * sigma)) for chunk_id, score in finite]


def fuse_minmax(lists: Sequence[tuple[Ranked, float]]) -> dict[int, float]:
    """Σ weight × (score − min) / (max − min) per list; a chunk missing from a list gets 0 there."""
    return _weighted_sum(lists, _minmax_scaled)


def fuse_dbsf(lists: Sequence[tuple[Ranked, float]]) -> dict[int, float]:
    """Σ weight × (score − (μ − 3σ)) / 6σ per list: Qdrant's distribution-based score fusion, weighted.

    Normalised as Qdrant does (sample σ), except that a list of one, or with no spread, scores 1.0 rather than
    Qdrant's 0.5: a lone BM25 hit is its list's best, and at 0.5 a dense neighbour with cosine 0 outranked
    it. Unlike min-max, one outlying top score does not squash the rest of its list towards zero: each
    path's confidence is judged against its own score distribution. Non-finite scores are dropped.
    """
    return _weighted_sum(lists, _dbsf_scaled)


@lru_cache(maxsize=256)
def _candidates(terms: frozenset[str]) -> re.Pattern[str]:
    prefixes = sorted({re.escape(t[: max(3, len(t) - 1)]) for t in terms}, key=len, reverse=True)
    return re.compile(r"(?<![^\W_])(?:" + "|".join(prefixes) + r")[^\W_]*", re.IGNORECASE)


# Markdown strong emphasis in the source (**bold**, ***bold italic***): its markers are dropped from snippets
# and any other ``**`` escaped, so the query-term markers are the only ``**`` there and never nest.
_SOURCE_STRONG = re.compile(r"(\*{2,3})(?=\S)(.+?)(?<=\S)\1", re.DOTALL)


def snippet(text: str, query_terms: set[str], term_of: Callable[[str], str], width: int = 320) -> str:
    """The ``width``-char window of ``text`` with the most query-term matches, matches marked **like
    this** (the source's own bold markers are dropped, so markers never nest)."""
    text = _SOURCE_STRONG.sub(r"\2", text).replace("**", r"\*\*")  # an unpaired one (f(**kw)) is escaped
    matches: list[tuple[int, int]] = []
    latin = [t for t in query_terms if not contains_cjk(t)]
    if latin:
        # Candidate words start like a query stem (stems only change a word's ending); each is then verified.
        for m in _candidates(frozenset(latin)).finditer(text):
            if term_of(m.group()) in query_terms:
                matches.append((m.start(), m.end()))
    for term in query_terms:
        if contains_cjk(term):
            start = text.find(term)
            while start >= 0 and len(matches) < 2000:
                matches.append((start, start + len(term)))
                start = text.find(term, start + len(term))
    matches.sort()
    merged: list[tuple[int, int]] = []
    for s, e in matches:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    lo = 0
    if merged and len(text) > width:
        best, j = (0, 0), 0
        for i in range(len(merged)):
            while j < len(merged) and merged[j][1] - merged[i][0] <= width:
                j += 1
            if j - i > best[0]:
                best = (j - i, i)
        lo = max(0, merged[best[1]][0] - width // 6)
    hi = min(len(text), lo + width)
    if hi - lo < width:
        lo = max(0, hi - width)
    if lo > 0:  # start on a word boundary
        space = text.find(" ", lo, lo + 30)
        lo = space + 1 if space >= 0 else lo
    if hi < len(text):
        space = text.rfind(" ", hi - 30, hi)
        hi = space if space > lo else hi
    out: list[str] = ["…" if lo > 0 else ""]
    pos = lo
    for s, e in merged:
        if e <= lo or s >= hi:
            continue
        s, e = max(s, lo), min(e, hi)
        out.append(text[pos:s])
        out.append(f"**{text[s:e]}**")
        pos = e
    out.append(text[pos:hi])
    out.append("…" if hi < len(text) else "")
    return " ".join("".join(out).split())


class Searcher:
    def __init__(
        self,
        store: Store,
        *,
        embedder: Callable[[], Embedder | None],
        glossary: Glossary | None = None,
        fusion: Fusion = "dbsf",
        rrf_k: int = 60,
        dense_weight: float = 0.5,
        candidates: int = 100,
        reranker: Callable[[], Reranker | None] | None = None,
        rerank_top: int = 30,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.glossary = glossary
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.candidates = candidates
        self._reranker = reranker
        self.rerank_top = rerank_top
        self._query_vectors: OrderedDict[tuple[str, str], Vector] = OrderedDict()
        self._cache_lock = threading.Lock()

    def search(
        self,
        query: str,
        k: int = 10,
        filt: SearchFilter | None = None,
        *,
        mode: Mode = "hybrid",
        rerank: bool = False,
        collections: Sequence[CollectionInfo] | None = None,
        candidates: int | None = None,
    ) -> SearchOutcome:
        filt = filt or SearchFilter()
        infos = list(collections) if collections is not None else self.store.list_collections()
        if filt.collections:
            infos = [c for c in infos if c.config.name in filt.collections]
        rewritten, rewrites = self.glossary.rewrite(query) if self.glossary else (query, [])
        outcome = SearchOutcome(query, rewritten, rewrites, [], [])
        depth = max(candidates or self.candidates, k)
        lists: list[tuple[Ranked, float]] = []
        bm25_list: Ranked = []
        dense_list: Ranked = []
        if mode in ("hybrid", "bm25"):
            by_analyzer: dict[str, list[str]] = {}
            for info in infos:
                by_analyzer.setdefault(info.config.analyzer, []).append(info.config.name)
            for analyzer_name, names in by_analyzer.items():
                terms = analyzer_named(analyzer_name).query_terms(rewritten)
                if not terms:
                    continue
                sub = (
                    replace(filt, collections=tuple(names))
                    if len(by_analyzer) > 1 or filt.collections
                    else filt
                )
                bm25_list.extend(self.store.bm25(" ".join(terms), sub, depth))
            bm25_list.sort(key=lambda x: -x[1])
            bm25_list = bm25_list[:depth]
            outcome.paths.append("bm25")
            lists.append((bm25_list, 1.0 - self.dense_weight if mode == "hybrid" else 1.0))
        query_vector = None
        every_collection_dense = False
        if mode in ("hybrid", "dense"):
            dense_list, query_vector, usable = self._dense(rewritten, filt, infos, depth, outcome)
            every_collection_dense = set(usable) == {c.config.name for c in infos}
            if dense_list or "dense" in outcome.paths:
                lists.append((dense_list, self.dense_weight if mode == "hybrid" else 1.0))
        if len(lists) == 2 and not dense_list:
            lists = lists[:1]
        server_fusion = getattr(self.store, "fused", None)
        if (
            len(lists) == 2
            and self.fusion == "rrf"
            and self.dense_weight == 0.5  # the backend's fusion weighs both paths equally
            and every_collection_dense  # one filter serves both paths there: no model-less collections
            and server_fusion is not None
            and query_vector is not None
        ):
            # The backend fuses both vectors itself (Qdrant's Query API); per-path ranks still
            # come from above.
            terms = analyzer_named(infos[0].config.analyzer).query_terms(rewritten) if infos else []
            fused = dict(server_fusion(" ".join(terms), query_vector, filt, depth, rrf_k=self.rrf_k))
            outcome.notes.append(f"fused server-side (rrf, k={self.rrf_k})")
        elif len(lists) == 2:
            fuse = {"dbsf": fuse_dbsf, "minmax": fuse_minmax}.get(self.fusion)
            fused = fuse(lists) if fuse is not None else fuse_rrf(lists, self.rrf_k)
        else:
            fused = {cid: score for cid, score in (lists[0][0] if lists else [])}
        order = sorted(fused, key=lambda cid: -fused[cid])
        use_rerank = rerank and self._reranker is not None and self._reranker() is not None
        top = order[: max(k, self.rerank_top) if use_rerank else k]
        records = self.store.chunks(top)
        bm25_pos = {cid: (i + 1, s) for i, (cid, s) in enumerate(bm25_list)}
        dense_pos = {cid: (i + 1, s) for i, (cid, s) in enumerate(dense_list)}
        hits: list[Hit] = []
        for cid in top:
            chunk = records.get(cid)
            if chunk is None:
                continue
            hit = Hit(chunk=chunk, fused=fused[cid])
            if cid in bm25_pos:
                hit.bm25_rank, hit.bm25 = bm25_pos[cid]
            if cid in dense_pos:
                hit.dense_rank, hit.dense = dense_pos[cid]
            hits.append(hit)
        if use_rerank and self._reranker is not None:
            reranker = self._reranker()
            if reranker is not None and hits:
                scores = reranker.score(rewritten, [h.chunk.text for h in hits])
                for hit, score in zip(hits, scores, strict=True):
                    hit.rerank = score
                hits.sort(key=lambda h: -(h.rerank or 0.0))
                outcome.paths.append("rerank")
        elif rerank:
            outcome.notes.append("rerank requested but no reranker is configured (TOOLMESH_DOCS_RERANKER)")
        outcome.hits = hits[:k]
        self._snippets(outcome, infos)
        return outcome

    def _dense(
        self, query: str, filt: SearchFilter, infos: list[CollectionInfo], depth: int, outcome: SearchOutcome
    ) -> tuple[Ranked, Vector | None, list[str]]:
        """The dense list, the query vector and the collections searched (those embedded with this model)."""
        embedder = self._embedder()
        if embedder is None:
            outcome.notes.append("dense path off: no embedding model (BM25 only)")
            return [], None, []
        if contains_cjk(query) and not embedder.multilingual:
            outcome.notes.append(
                f"dense path skipped: {embedder.name} is English-only and the query is CJK "
                "(TOOLMESH_DOCS_EMBEDDER=multilingual indexes with multilingual-e5-small)"
            )
            return [], None, []
        usable = [c.config.name for c in infos if c.config.embedder == embedder.name and c.vectors > 0]
        stale = [c.config.name for c in infos if c.config.embedder not in (None, embedder.name)]
        if stale:
            outcome.notes.append(
                f"collections embedded with another model, re-index for dense: {', '.join(stale)}"
            )
        if not usable:
            return [], None, []
        outcome.paths.append("dense")
        vector = self._embed_query(embedder, query)
        return self.store.dense(vector, replace(filt, collections=tuple(usable)), depth), vector, usable

    def _embed_query(self, embedder: Embedder, query: str) -> Vector:
        """The query's vector, from a small LRU cache (agents often repeat or page through a query)."""
        key = (embedder.name, query)
        with self._cache_lock:
            cached = self._query_vectors.get(key)
            if cached is not None:
                self._query_vectors.move_to_end(key)
                return cached
        vector = embedder.embed_query(query)
        with self._cache_lock:
            self._query_vectors[key] = vector
            while len(self._query_vectors) > 256:
                self._query_vectors.popitem(last=False)
        return vector

    def _snippets(self, outcome: SearchOutcome, infos: list[CollectionInfo]) -> None:
        analyzer = analyzer_named(infos[0].config.analyzer if infos else "standard")
        terms = set(analyzer.query_terms(outcome.rewritten))
        for hit in outcome.hits:
            hit.snippet = snippet(hit.chunk.text, terms, analyzer.term_of_word)
