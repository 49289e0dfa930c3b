"""The storage interface every backend implements, and the records it stores."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "ChunkRecord",
    "CollectionConfig",
    "CollectionInfo",
    "DocumentRecord",
    "NewChunk",
    "SearchFilter",
    "Store",
]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class CollectionConfig:
    name: str
    strategy: str = "heading"
    tokens: int = 256
    overlap: int = 48
    analyzer: str = "standard"
    embedder: str | None = None
    dim: int = 0


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    config: CollectionConfig
    documents: int
    chunks: int
    vectors: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    collection: str
    path: str
    kind: str
    sha256: str
    size: int
    mtime: float
    text: str
    chunks: int = 0
    indexed_at: float = 0.0


@dataclass(frozen=True, slots=True)
class NewChunk:
    ord: int
    text: str
    heading_path: tuple[str, ...]
    line_start: int
    line_end: int
    char_start: int
    char_end: int
    page: int | None
    terms: str  # space-separated analysed terms for BM25 (heading path included)
    # Converted formats (HTML, notebooks): the lines of the file on disk this chunk came from (None when the
    # file's layout does not say) and where it is there ("cell 3", an element path).
    file_lines: tuple[int, int] | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    id: int
    collection: str
    path: str
    kind: str
    ord: int
    text: str
    heading_path: tuple[str, ...]
    line_start: int
    line_end: int
    char_start: int
    char_end: int
    page: int | None
    file_lines: tuple[int, int] | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrictions both retrieval paths apply before ranking."""

    collections: tuple[str, ...] = ()
    path_glob: str | None = None
    kinds: tuple[str, ...] = ()
    heading_contains: str | None = None
    pages: tuple[int, int] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def matches(self, chunk: ChunkRecord) -> bool:
        if self.collections and chunk.collection not in self.collections:
            return False
        if self.path_glob and not fnmatch.fnmatchcase(chunk.path, self.path_glob):
            return False
        if self.kinds and chunk.kind not in self.kinds:
            return False
        if self.heading_contains:
            needle = self.heading_contains.casefold()
            if not any(needle in h.casefold() for h in chunk.heading_path):
                return False
        if self.pages is not None:
            lo, hi = self.pages
            if chunk.page is None or not lo <= chunk.page <= hi:
                return False
        return True


class Store(Protocol):
    """What the indexer and the searcher need from a backend."""

    @property
    def backend(self) -> str: ...

    def close(self) -> None: ...

    def ensure_collection(self, config: CollectionConfig) -> CollectionConfig: ...

    def update_collection(self, config: CollectionConfig) -> None: ...

    def get_collection(self, name: str) -> CollectionInfo | None: ...

    def list_collections(self) -> list[CollectionInfo]: ...

    def drop_collection(self, name: str) -> None: ...

    def document_states(self, collection: str) -> dict[str, tuple[str, int, float]]:
        """path -> (sha256, size, mtime) of every document in ``collection``."""
        ...

    def touch_document(self, collection: str, path: str, mtime: float) -> None: ...

    def replace_document(
        self, doc: DocumentRecord, chunks: Sequence[NewChunk], vectors: Vector | None
    ) -> list[int]:
        """Store ``doc`` with ``chunks`` (and their vectors), replacing what was there; returns the chunk
        ids."""
        ...

    def delete_document(self, collection: str, path: str) -> bool: ...

    def get_document(self, collection: str, path: str) -> DocumentRecord | None: ...

    def find_documents(self, path: str) -> list[DocumentRecord]: ...

    def bm25(self, query: str, filt: SearchFilter, limit: int) -> list[tuple[int, float]]:
        """(chunk id, score) best first; ``query`` is space-separated analysed terms, OR-ed."""
        ...

    def dense(self, vector: Vector, filt: SearchFilter, limit: int) -> list[tuple[int, float]]: ...

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]: ...

    def neighbors(self, chunk: ChunkRecord, before: int, after: int) -> list[ChunkRecord]: ...
