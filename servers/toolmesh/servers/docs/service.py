"""The docs service: settings turned into a store, roots, embedder, indexer and searcher, used by tools and
CLI."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from toolmesh.protocols.glossary import Glossary
from toolmesh.servers.docs.chunking import ChunkingConfig, Strategy
from toolmesh.servers.docs.embedders import E5Embedder, Embedder, EmbedderChoice, resolve_embedder
from toolmesh.servers.docs.errors import DocsError, DocsInputError, DocsLimitExceeded, DocsNotFound
from toolmesh.servers.docs.index import Indexer, Progress, validate_collection_name
from toolmesh.servers.docs.models import (
    ChunkOut,
    ChunkResult,
    Citation,
    CollectionOut,
    CollectionsResult,
    DocumentResult,
    IndexResult,
    RewriteOut,
    ScoreBreakdown,
    SearchFilters,
    SearchHit,
    SearchResult,
    SkippedFile,
    StatusResult,
)
from toolmesh.servers.docs.rerank import RerankerChoice, resolve_reranker
from toolmesh.servers.docs.roots import Roots
from toolmesh.servers.docs.search import Mode, Reranker, Searcher
from toolmesh.servers.docs.settings import DocsSettings
from toolmesh.servers.docs.stores.base import ChunkRecord, CollectionInfo, SearchFilter, Store

__all__ = ["DocsService", "open_store"]

logger = logging.getLogger(__name__)


def open_store(settings: DocsSettings) -> Store:
    if settings.store == "qdrant":
        from toolmesh.servers.docs.stores.qdrant import QdrantStore

        return QdrantStore.from_settings(settings)
    from toolmesh.servers.docs.stores.sqlite import SqliteStore

    return SqliteStore(settings.index_path)


def _collection_out(info: CollectionInfo) -> CollectionOut:
    c = info.config
    return CollectionOut(
        name=c.name,
        strategy=c.strategy,
        chunk_tokens=c.tokens,
        overlap=c.overlap,
        analyzer=c.analyzer,
        embedder=c.embedder,
        documents=info.documents,
        chunks=info.chunks,
        vectors=info.vectors,
        updated_at=info.updated_at,
    )


def _uri(collection: str, path: str) -> str:
    return f"docs://{collection}/{quote(path.lstrip('/'), safe='/')}"


_CONVERTED_KINDS = frozenset({"html", "notebook", "pdf"})


def citation_of(chunk: ChunkRecord) -> Citation:
    file_lines = chunk.file_lines
    if file_lines is None and chunk.kind not in _CONVERTED_KINDS:  # the indexed text is the file
        file_lines = (chunk.line_start, chunk.line_end)
    return Citation(
        collection=chunk.collection,
        path=chunk.path,
        heading_path=list(chunk.heading_path),
        line_start=chunk.line_start,
        line_end=chunk.line_end,
        page=chunk.page,
        file_line_start=file_lines[0] if file_lines else None,
        file_line_end=file_lines[1] if file_lines else None,
        location=chunk.location,
        uri=_uri(chunk.collection, chunk.path),
    )


def _chunk_out(chunk: ChunkRecord) -> ChunkOut:
    return ChunkOut(
        id=chunk.id,
        ord=chunk.ord,
        text=chunk.text,
        citation=citation_of(chunk),
        char_start=chunk.char_start,
        char_end=chunk.char_end,
    )


MODEL_RETRY_SECONDS = 60.0


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS pool for this process. After each vector scan OpenBLAS's idle workers busy-wait;
    measured here, that tripled the multilingual model's query embedding (OpenMP threads on the same cores:
    52 ms instead of 18), while one BLAS thread costs the 100k-chunk scan ~8 ms."""
    threadpoolctl = importlib.import_module("threadpoolctl")
    threadpoolctl.threadpool_limits(limits=threads, user_api="blas")


class DocsService:
    """Everything the docs tools do, synchronous and thread-safe (tools run it in worker threads)."""

    def __init__(
        self,
        settings: DocsSettings,
        *,
        store: Store | None = None,
        embedder: Embedder | str | None = "settings",
        reranker: Reranker | str | None = "settings",
        download_models: bool = False,
    ) -> None:
        self.settings = settings
        # A server never downloads a hub model inside a request (gigabytes, under the model lock); the CLI
        # (`toolmesh docs index`, `pull`) does, on the user's explicit command.
        self._download = download_models
        self._retry_at: float | None = None  # set while the model failed to load: when to look again
        self._limit_blas(embedder)
        self.roots = Roots(
            settings.roots,
            settings.exclude,
            serve_secrets=settings.serve_secrets,
            allow_hardlinks=settings.allow_hardlinks,
            max_file_bytes=settings.max_file_bytes,
            max_depth=settings.max_depth,
        )
        self.store = store if store is not None else open_store(settings)
        self.glossary = Glossary.load(settings.glossary) if settings.glossary else None
        self._embedder_lock = threading.Lock()
        # The files each collection's last index run here skipped, with reasons (for index_status).
        self._skipped: dict[str, list[SkippedFile]] = {}
        self._skipped_lock = threading.Lock()
        # One indexing run at a time (the start-up index, the watcher, the `index` tool): a second waits,
        # then finds the files it shares with the first unchanged.
        self._index_lock = threading.Lock()
        self._embedder_choice: EmbedderChoice | None = None
        if not isinstance(embedder, str):
            self._embedder_choice = EmbedderChoice(
                embedder, f"dense: {embedder.name}, {embedder.dim} dimensions" if embedder else "BM25 only"
            )
        self._reranker_choice: RerankerChoice | None = None
        if not isinstance(reranker, str):
            self._reranker_choice = RerankerChoice(reranker, reranker.name if reranker else "off")
        defaults = ChunkingConfig(
            settings.strategy, settings.chunk_tokens, min(settings.chunk_overlap, settings.chunk_tokens - 1)
        )
        self.indexer = Indexer(
            self.store,
            embedder=self.embedder,
            roots=self.roots,
            defaults=defaults,
            max_file_bytes=settings.max_file_bytes,
            max_files=settings.max_files,
            embed_batch=max(64, settings.embed_batch_size * 4),
        )
        self.searcher = Searcher(
            self.store,
            embedder=self.embedder,
            glossary=self.glossary,
            fusion=settings.fusion,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            candidates=settings.candidates,
            reranker=self.reranker,
            rerank_top=settings.rerank_top,
        )

    # --- lazily loaded models
    # --------------------------------------------------------------------------------

    def embedder_choice(self) -> EmbedderChoice:
        with self._embedder_lock:
            if self._embedder_choice is None or self._retry_due():
                try:
                    self._embedder_choice = resolve_embedder(
                        self.settings.embedder,
                        batch_size=self.settings.embed_batch_size,
                        verify=self.settings.verify_model_hash,
                        cache_dir=self.settings.model_cache,
                        download=self._download,
                    )
                    self._retry_at = None
                    self._limit_blas(self._embedder_choice.embedder)
                except Exception as exc:  # a broken model must not take search down: fall back to BM25
                    logger.warning("embedder unavailable: %s", exc)
                    self._embedder_choice = EmbedderChoice(
                        None, f"embedder failed to load ({exc}): BM25 only"
                    )
                    self._retry_at = time.monotonic() + MODEL_RETRY_SECONDS
            return self._embedder_choice

    def _retry_due(self) -> bool:
        """A model that failed to load (say, not pulled yet) is looked for again now and then."""
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def _limit_blas(self, embedder: object) -> None:
        """Explicit ``blas_threads`` apply to every model; unset, one thread beside the OpenMP engine."""
        threads = self.settings.blas_threads
        if threads is None and isinstance(embedder, E5Embedder):
            threads = 1
        if threads:
            limit_blas_threads(threads)

    def embedder(self) -> Embedder | None:
        return self.embedder_choice().embedder

    def reranker_choice(self) -> RerankerChoice:
        with self._embedder_lock:
            if self._reranker_choice is None:
                try:
                    self._reranker_choice = resolve_reranker(
                        self.settings.reranker, cache_dir=self.settings.model_cache, download=self._download
                    )
                except Exception as exc:
                    logger.warning("reranker unavailable: %s", exc)
                    self._reranker_choice = RerankerChoice(None, f"reranker failed to load ({exc})")
            return self._reranker_choice

    def reranker(self) -> Reranker | None:
        return self.reranker_choice().reranker

    def close(self) -> None:
        self.store.close()

    # --- tools
    # -------------------------------------------------------------------------------------------------

    def _collection_names(self, collection: str | None) -> tuple[str, ...]:
        if collection is None:
            return ()
        validate_collection_name(collection)
        if self.store.get_collection(collection) is None:
            known = ", ".join(c.config.name for c in self.store.list_collections()) or "none yet"
            raise DocsNotFound(f"no collection named {collection!r}", hint=f"Collections: {known}.")
        return (collection,)

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        collection: str | None = None,
        path_glob: str | None = None,
        filters: SearchFilters | None = None,
        mode: Mode = "hybrid",
        rerank: bool = False,
    ) -> SearchResult:
        # JSON can carry lone surrogates (\ud800) that no tokenizer or C engine can encode; NUL ends a C
        # string early. Both become harmless characters rather than a failed search.
        query = query.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")
        if not query.strip():
            raise DocsInputError("empty query", hint="Ask with a few words or a question.")
        if len(query) > self.settings.max_query_chars:
            raise DocsLimitExceeded(
                f"query is {len(query):,} characters; the limit is {self.settings.max_query_chars:,}",
                hint="Search with the key words or a short question instead of a whole text.",
            )
        if k > self.settings.max_k:
            raise DocsLimitExceeded(f"k={k} is above the limit of {self.settings.max_k}")
        if path_glob is not None and (len(path_glob) > 500 or "\x00" in path_glob):
            raise DocsInputError("path_glob is too long or contains a NUL byte")
        filt = SearchFilter(collections=self._collection_names(collection), path_glob=path_glob)
        if filters is not None:
            pages = None
            if filters.page_from is not None or filters.page_to is not None:
                pages = (filters.page_from or 1, filters.page_to or 10**9)
            filt = SearchFilter(
                collections=filt.collections,
                path_glob=path_glob,
                kinds=tuple(filters.kinds or ()),
                heading_contains=filters.heading_contains,
                pages=pages,
            )
        if path_glob and not path_glob.startswith(("/", "*")):
            filt = SearchFilter(
                collections=filt.collections,
                path_glob="*" + path_glob,
                kinds=filt.kinds,
                heading_contains=filt.heading_contains,
                pages=filt.pages,
            )
        outcome = self.searcher.search(query, k, filt, mode=mode, rerank=rerank)
        hits = [
            SearchHit(
                id=h.chunk.id,
                rank=i,
                snippet=h.snippet,
                citation=citation_of(h.chunk),
                scores=ScoreBreakdown(
                    bm25=h.bm25,
                    bm25_rank=h.bm25_rank,
                    dense=h.dense,
                    dense_rank=h.dense_rank,
                    fused=h.fused,
                    rerank=h.rerank,
                ),
            )
            for i, h in enumerate(outcome.hits, start=1)
        ]
        return SearchResult(
            query=query,
            rewritten_query=outcome.rewritten if outcome.rewritten != query else None,
            rewrites=[RewriteOut(original=r.original, canonical=r.canonical) for r in outcome.rewrites],
            paths=outcome.paths,
            hits=hits,
            notes=outcome.notes,
        )

    def get_chunk(self, chunk_id: int, neighbors: int = 0) -> ChunkResult:
        found = self.store.chunks([chunk_id]).get(chunk_id)
        if found is None:
            raise DocsNotFound(f"no chunk with id {chunk_id}", hint="Use an id from search_docs results.")
        around = self.store.neighbors(found, neighbors, neighbors) if neighbors else [found]
        return ChunkResult(
            chunk=_chunk_out(found),
            before=[_chunk_out(c) for c in around if c.ord < found.ord],
            after=[_chunk_out(c) for c in around if c.ord > found.ord],
        )

    def _find_document(self, path: str, collection: str | None) -> tuple[str, str]:
        names = self._collection_names(collection)
        candidates: list[str] = [path]
        if not path.startswith("/") or not any(d for d in self.store.find_documents(path)):
            with contextlib.suppress(DocsError):  # outside the roots or malformed: cannot be indexed
                candidates.append(str(self.roots.resolve(path)))
        for key in candidates:
            for doc in self.store.find_documents(key):
                if not names or doc.collection in names:
                    return doc.collection, doc.path
        raise DocsNotFound(
            f"{path} is not in the index" + (f" collection {collection!r}" if collection else ""),
            hint="Use a path from a search citation, or index the file first.",
        )

    def get_document(
        self, path: str, *, start_line: int = 1, end_line: int | None = None, collection: str | None = None
    ) -> DocumentResult:
        if "\x00" in path or len(path) > 4096:
            raise DocsInputError("invalid path")
        name, key = self._find_document(path, collection)
        doc = self.store.get_document(name, key)
        if doc is None:
            raise DocsNotFound(f"{path} is not in the index")
        lines = doc.text.split("\n")
        total = len(lines)
        if start_line < 1 or start_line > total:
            raise DocsInputError(f"start_line {start_line} is outside the document (1-{total})")
        last = total if end_line is None else min(max(end_line, start_line), total)
        budget = self.settings.max_document_chars
        out: list[str] = []
        used = 0
        line_no = start_line
        truncated = False
        while line_no <= last:
            line = lines[line_no - 1]
            if used + len(line) + 1 > budget and out:
                truncated = True
                break
            out.append(line[:budget])
            used += len(line) + 1
            line_no += 1
        shown_end = line_no - 1
        return DocumentResult(
            collection=name,
            path=key,
            kind=doc.kind,
            start_line=start_line,
            end_line=shown_end,
            total_lines=total,
            text="\n".join(out),
            truncated=truncated,
            next_line=shown_end + 1 if truncated else None,
        )

    def list_collections(self) -> CollectionsResult:
        return CollectionsResult(collections=[_collection_out(c) for c in self.store.list_collections()])

    def status(self) -> StatusResult:
        choice = self.embedder_choice()
        with self._skipped_lock:
            skipped = [f for files in self._skipped.values() for f in files]
        location = str(self.settings.index_path)
        if self.store.backend == "qdrant":
            location = self.settings.qdrant_url or str(self.settings.qdrant_path or ":memory:")
        return StatusResult(
            store=self.store.backend,
            location=location,
            roots=[str(r) for r in self.roots.roots],
            dense=choice.embedder is not None,
            embedder=choice.status,
            reranker=self.reranker_choice().status,
            fusion=f"rrf (k={self.settings.rrf_k}, dense weight {self.settings.dense_weight}"
            + (
                ", run by Qdrant when both paths serve"
                if self.store.backend == "qdrant" and self.settings.dense_weight == 0.5
                else ""
            )
            + ")"
            if self.settings.fusion == "rrf"
            else f"{self.settings.fusion} (dense weight {self.settings.dense_weight})",
            glossary_terms=len(self.glossary) if self.glossary else 0,
            collections=[_collection_out(c) for c in self.store.list_collections()],
            skipped=len(skipped),
            skipped_files=skipped[:20],
        )

    def index(
        self,
        paths: Sequence[str | Path],
        *,
        collection: str = "default",
        strategy: Strategy | None = None,
        chunk_tokens: int | None = None,
        overlap: int | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexResult:
        if not paths:
            raise DocsInputError(
                "no paths given", hint="Pass one or more files or folders inside the docs roots."
            )
        resolved = [self.roots.resolve(p) for p in paths]
        known = self.store.document_states(collection) if self.store.get_collection(collection) else {}
        for path in resolved:
            prefix = str(path).rstrip("/") + "/"
            if not path.exists() and not any(k == str(path) or k.startswith(prefix) for k in known):
                raise DocsNotFound(
                    f"{path} does not exist", hint="Check the path; it must be inside the docs roots."
                )
        with self._index_lock:
            report = self.indexer.index_paths(
                resolved,
                collection,
                strategy=strategy,
                tokens=chunk_tokens,
                overlap=overlap,
                progress=progress,
            )
        skipped = [SkippedFile(path=p, reason=r) for p, r in report.skipped]
        with self._skipped_lock:
            self._skipped[report.collection] = skipped
        return IndexResult(
            collection=report.collection,
            files_seen=report.files_seen,
            indexed=report.indexed,
            unchanged=report.unchanged,
            deleted=report.deleted,
            chunks=report.chunks,
            embedded=report.embedded,
            skipped=skipped,
            truncated=report.truncated,
            seconds=round(report.seconds, 3),
            dense=report.dense,
        )
