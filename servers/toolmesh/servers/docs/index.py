"""Ingestion: files → canonical text → chunks → BM25 terms and vectors → the store.

Content hashes decide what is re-read: an unchanged file is skipped, a changed one replaced, and documents
that disappeared from an indexed folder are dropped. Embedding runs in batches across documents so small files
still fill the model's batches.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolmesh.protocols.text import analyzer_named
from toolmesh.servers.docs.chunking import ChunkingConfig, ChunkSpan, Strategy, chunk_text
from toolmesh.servers.docs.embedders import Embedder
from toolmesh.servers.docs.errors import DocsError, DocsInputError
from toolmesh.servers.docs.formats import Extracted, Kind, extract, kind_of
from toolmesh.servers.docs.roots import Roots
from toolmesh.servers.docs.stores.base import CollectionConfig, DocumentRecord, NewChunk, Store
from toolmesh.servers.docs.structure import LineIndex

__all__ = ["IndexReport", "Indexer", "Progress", "skip_reason", "validate_collection_name"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Progress:
    """Counters reported while indexing (the CLI draws its progress bar from them)."""

    files_total: int = 0
    files_done: int = 0
    chunks: int = 0
    embedded: int = 0
    current: str = ""


@dataclass(slots=True)
class IndexReport:
    collection: str
    files_seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks: int = 0
    embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False
    seconds: float = 0.0
    dense: bool = False


@dataclass(frozen=True, slots=True)
class _Unchanged:
    mtime: float | None  # the new mtime to record, when only that changed


def skip_reason(path: Path, exc: BaseException) -> str:
    """Why a file was skipped, in words a user can act on (a reader's own errors say it best)."""
    if isinstance(exc, DocsError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return (
            f"{path.name} is nested too deeply to convert; not indexed. "
            "Exclude it (TOOLMESH_DOCS_EXCLUDE) or flatten it."
        )
    if isinstance(exc, MemoryError):
        return f"{path.name} needs more memory to convert than is free; not indexed. Exclude it or split it."
    if isinstance(exc, OSError):
        return f"{path.name} could not be read ({exc.strerror or type(exc).__name__}); not indexed."
    logger.debug("reader failure on %s", path, exc_info=exc)
    return (
        f"{path.name} could not be converted ({type(exc).__name__}: {str(exc)[:160]}); not indexed. "
        "If it opens in its own program, please report this file's shape."
    )


@dataclass(slots=True)
class _Pending:
    doc: DocumentRecord
    chunks: list[NewChunk]
    embed_texts: list[str]


def validate_collection_name(name: str) -> str:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise DocsInputError(
            f"invalid collection name {name[:80]!r}",
            hint="Use 1-64 letters, digits, '-', '_' or '.'.",
        )
    return name


class Indexer:
    """Indexes files and texts into a store, one collection at a time."""

    def __init__(
        self,
        store: Store,
        *,
        embedder: Callable[[], Embedder | None],
        roots: Roots,
        defaults: ChunkingConfig,
        max_file_bytes: int = 20 * 1024 * 1024,
        max_files: int = 20_000,
        embed_batch: int = 256,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.roots = roots
        self.defaults = defaults
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.embed_batch = embed_batch

    # --- collection configuration ---------------------------------------------------------------------------

    def prepare(
        self,
        collection: str,
        *,
        strategy: Strategy | None = None,
        tokens: int | None = None,
        overlap: int | None = None,
        analyzer: str | None = None,
    ) -> tuple[CollectionConfig, bool]:
        """The collection's config (created with the given or default chunking); True when all must be
        redone."""
        validate_collection_name(collection)
        embedder = self._embedder()
        wanted = CollectionConfig(
            name=collection,
            strategy=strategy or self.defaults.strategy,
            tokens=tokens or self.defaults.tokens,
            overlap=self.defaults.overlap if overlap is None else overlap,
            analyzer=analyzer or "standard",
            embedder=embedder.name if embedder else None,
            dim=embedder.dim if embedder else 0,
        )
        ChunkingConfig(wanted.strategy, wanted.tokens, min(wanted.overlap, wanted.tokens - 1))  # type: ignore[arg-type]
        existing = self.store.ensure_collection(wanted)
        if existing == wanted:
            return existing, False
        # Chunking given explicitly wins; otherwise keep the collection's own.
        merged = CollectionConfig(
            name=collection,
            strategy=strategy or existing.strategy,
            tokens=tokens or existing.tokens,
            overlap=existing.overlap if overlap is None else overlap,
            analyzer=analyzer or existing.analyzer,
            embedder=wanted.embedder,
            dim=wanted.dim,
        )
        if merged != existing:
            self.store.update_collection(merged)
            return merged, True
        return existing, False

    @staticmethod
    def chunking_of(config: CollectionConfig) -> ChunkingConfig:
        return ChunkingConfig(
            strategy=config.strategy,  # type: ignore[arg-type]
            tokens=config.tokens,
            overlap=min(config.overlap, config.tokens - 1),
        )

    # --- files ----------------------------------------------------------------------------------------------

    def collect(
        self, paths: Sequence[Path], skipped: list[tuple[str, str]] | None = None
    ) -> tuple[list[Path], list[Path], bool]:
        """(files to consider, directories/files whose stale documents may be pruned, truncated).

        Files the walk passes over for a reason (size, hard links, depth) are appended to ``skipped``.
        """
        files: dict[Path, None] = {}
        scopes: list[Path] = []
        truncated = False
        notes: list[tuple[str, str]] = [] if skipped is None else skipped
        for raw in paths:
            place = self.roots.locate(raw)
            scopes.append(place.path)
            if place.is_dir:
                walk = self.roots.walk(place, notes)
                for file in walk:
                    files.setdefault(file, None)
                    if len(files) >= self.max_files:
                        truncated = True
                        break
                walk.close()
            elif place.is_dir is False:
                files.setdefault(place.path, None)
            if truncated:
                break
        return list(files), scopes, truncated

    def index_paths(
        self,
        paths: Sequence[Path],
        collection: str,
        *,
        strategy: Strategy | None = None,
        tokens: int | None = None,
        overlap: int | None = None,
        prune: bool = True,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexReport:
        started = time.perf_counter()
        config, redo = self.prepare(collection, strategy=strategy, tokens=tokens, overlap=overlap)
        passed_over: list[tuple[str, str]] = []
        files, scopes, truncated = self.collect(paths, passed_over)
        report = IndexReport(collection=collection, truncated=truncated, skipped=passed_over)
        states = self.store.document_states(collection)
        state = Progress(files_total=len(files))
        pending: list[_Pending] = []

        def notify() -> None:
            if progress is not None:
                progress(state)

        notify()
        for path in files:
            key = str(path)
            state.current = key
            report.files_seen += 1
            try:
                item = self._read(path, config, states.get(key), redo)
            except Exception as exc:  # any reader's failure skips this one file, never the run
                report.skipped.append((key, skip_reason(path, exc)))
                item = None
                if key in states:  # it became unreadable: drop the stale version
                    self.store.delete_document(collection, key)
                    report.deleted += 1
            if isinstance(item, _Unchanged):
                if item.mtime is not None:
                    self.store.touch_document(collection, key, item.mtime)
                report.unchanged += 1
            elif isinstance(item, _Pending):
                pending.append(item)
                state.chunks += len(item.chunks)
                if sum(len(p.chunks) for p in pending) >= self.embed_batch:
                    self._flush(pending, config, report, state, notify)
            state.files_done += 1
            notify()
        self._flush(pending, config, report, state, notify)
        if prune:
            seen = {str(f) for f in files}
            for key in states:
                if key in seen:
                    continue
                in_scope = any(key == str(s) or key.startswith(str(s).rstrip("/") + "/") for s in scopes)
                if in_scope and not (truncated and Path(key).exists()):
                    self.store.delete_document(collection, key)
                    report.deleted += 1
        report.dense = config.embedder is not None
        report.seconds = time.perf_counter() - started
        return report

    def _read(
        self, path: Path, config: CollectionConfig, previous: tuple[str, int, float] | None, redo: bool
    ) -> _Pending | _Unchanged:
        """Read, convert and chunk one file; touches no store (its failures are the file's alone)."""
        kind = kind_of(path) or "text"
        # Opened from its root one component at a time (no link followed), checked with fstat on the
        # descriptor (regular file, one link, size cap) and read from it: no stat-then-open gap.
        opened = self.roots.read(path)
        data, info = opened.data, opened.info
        sha = hashlib.sha256(data).hexdigest()
        if previous is not None and previous[0] == sha and not redo:
            return _Unchanged(info.st_mtime if previous[2] != info.st_mtime else None)
        extracted = extract(path, data, kind)
        return self._prepare_document(
            str(path), extracted, sha, len(data), info.st_mtime, config.name, config
        )

    def _prepare_document(
        self,
        key: str,
        extracted: Extracted,
        sha: str,
        size: int,
        mtime: float,
        collection: str,
        config: CollectionConfig,
    ) -> _Pending:
        embedder = self._embedder()
        embed_fn = embedder.embed if (embedder and config.strategy == "semantic") else None
        chunking = self.chunking_of(config)
        if extracted.pages:  # chunk page by page, so a chunk never spans pages and its page citation is exact
            bounds = [offset for offset, _ in extracted.pages] + [len(extracted.text)]
            spans = []
            for lo, hi in itertools.pairwise(bounds):
                for span in chunk_text(extracted.text[lo:hi], extracted.syntax, chunking, embed=embed_fn):
                    spans.append(ChunkSpan(span.start + lo, span.end + lo, span.heading_path))
        else:
            spans = chunk_text(extracted.text, extracted.syntax, chunking, embed=embed_fn)
        lines = LineIndex(extracted.text)
        analyzer = analyzer_named(config.analyzer)
        page_offsets = [p[0] for p in extracted.pages]
        chunks: list[NewChunk] = []
        texts: list[str] = []
        for ord_, span in enumerate(spans):
            body = extracted.text[span.start : span.end]
            line_start, line_end = lines.span(span.start, span.end)
            page = None
            if extracted.pages:
                page = extracted.pages[max(0, bisect.bisect_right(page_offsets, span.start) - 1)][1]
            heading = " > ".join(span.heading_path)
            terms = " ".join(analyzer.terms(f"{heading}\n{body}" if heading else body))
            placed = extracted.source_map.locate(span.start, span.end)
            file_lines = None
            if placed is not None and placed.line_start is not None and placed.line_end is not None:
                file_lines = (placed.line_start, placed.line_end)
            chunks.append(
                NewChunk(
                    ord_,
                    body,
                    span.heading_path,
                    line_start,
                    line_end,
                    span.start,
                    span.end,
                    page,
                    terms,
                    file_lines=file_lines,
                    location=placed.location if placed is not None else None,
                )
            )
            texts.append(f"{heading}\n{body}" if heading else body)
        doc = DocumentRecord(collection, key, extracted.kind, sha, size, mtime, extracted.text)
        return _Pending(doc, chunks, texts)

    def _flush(
        self,
        pending: list[_Pending],
        config: CollectionConfig,
        report: IndexReport,
        state: Progress,
        notify: Callable[[], None],
    ) -> None:
        if not pending:
            return
        embedder = self._embedder() if config.embedder else None
        vectors = None
        if embedder is not None:
            # One long document can hold thousands of chunks: the model sees at most embed_batch at a time.
            texts = [t for p in pending for t in p.embed_texts]
            vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
            for lo in range(0, len(texts), self.embed_batch):
                vectors[lo : lo + self.embed_batch] = embedder.embed(texts[lo : lo + self.embed_batch])
        offset = 0
        for item in pending:
            n = len(item.chunks)
            self.store.replace_document(
                item.doc, item.chunks, None if vectors is None else vectors[offset : offset + n]
            )
            offset += n
            report.indexed += 1
            report.chunks += n
            if vectors is not None:
                report.embedded += n
                state.embedded += n
        notify()
        pending.clear()

    # --- texts (benchmarks, API users)
    # -----------------------------------------------------------------------

    def index_texts(
        self,
        items: Iterable[tuple[str, str, Kind]],
        collection: str,
        *,
        strategy: Strategy | None = None,
        tokens: int | None = None,
        overlap: int | None = None,
        analyzer: str | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexReport:
        """Index in-memory documents ``(key, text, kind)``; the key stands in for the path in citations."""
        started = time.perf_counter()
        config, _ = self.prepare(
            collection, strategy=strategy, tokens=tokens, overlap=overlap, analyzer=analyzer
        )
        report = IndexReport(collection=collection)
        state = Progress()
        pending: list[_Pending] = []

        def notify() -> None:
            if progress is not None:
                progress(state)

        for key, text, kind in items:
            data = text.encode("utf-8")
            extracted = extract(Path(key), data, kind)
            item = self._prepare_document(
                key, extracted, hashlib.sha256(data).hexdigest(), len(data), time.time(), collection, config
            )
            pending.append(item)
            report.files_seen += 1
            state.chunks += len(item.chunks)
            if sum(len(p.chunks) for p in pending) >= self.embed_batch:
                self._flush(pending, config, report, state, notify)
        self._flush(pending, config, report, state, notify)
        report.dense = config.embedder is not None
        report.seconds = time.perf_counter() - started
        return report
