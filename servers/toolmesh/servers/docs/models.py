"""The pydantic shapes the docs tools return (output schemas + structured content) and their text
renderings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "ChunkOut",
    "ChunkResult",
    "Citation",
    "CollectionOut",
    "CollectionsResult",
    "DocumentResult",
    "IndexResult",
    "RewriteOut",
    "ScoreBreakdown",
    "SearchFilters",
    "SearchHit",
    "SearchResult",
    "SkippedFile",
    "StatusResult",
]

KindName = Literal["markdown", "text", "rst", "html", "pdf", "notebook", "source"]


class SearchFilters(BaseModel):
    """Restrict a search; every field is optional and they combine with AND."""

    kinds: list[KindName] | None = Field(
        default=None, description="Document kinds to keep, e.g. ['pdf', 'markdown']."
    )
    heading_contains: str | None = Field(
        default=None, max_length=200, description="Keep chunks whose heading path contains this text."
    )
    page_from: int | None = Field(default=None, ge=1, description="PDF pages: first page to keep.")
    page_to: int | None = Field(default=None, ge=1, description="PDF pages: last page to keep.")


class Citation(BaseModel):
    collection: str
    path: str
    heading_path: list[str]
    line_start: int = Field(description="First line in the indexed text (what get_document serves).")
    line_end: int
    page: int | None = None
    file_line_start: int | None = Field(
        default=None,
        description="First line in the file on disk: the same as line_start for text formats, mapped back "
        "for HTML and notebooks, None for PDFs and where the file's layout does not say.",
    )
    file_line_end: int | None = None
    location: str | None = Field(
        default=None,
        description="Where in a converted file: 'cell 3' in a notebook, an element path "
        "(a CSS selector) in an HTML page.",
    )
    uri: str = Field(description="docs:// resource URI of the document.")

    def render(self) -> str:
        head = f" ({' > '.join(self.heading_path)})" if self.heading_path else ""
        where = f" [{self.location}]" if self.location else ""
        if self.page:
            return f"{self.path}:{self.line_start}-{self.line_end}, page {self.page}{head}"
        if self.file_line_start is not None:
            return f"{self.path}:{self.file_line_start}-{self.file_line_end}{where}{head}"
        return f"{self.path}{where}, converted text lines {self.line_start}-{self.line_end}{head}"


class ScoreBreakdown(BaseModel):
    bm25: float | None = None
    bm25_rank: int | None = None
    dense: float | None = None
    dense_rank: int | None = None
    fused: float
    rerank: float | None = None


class SearchHit(BaseModel):
    id: int = Field(description="Chunk id, for get_chunk.")
    rank: int
    snippet: str = Field(description="Best-matching passage; query terms marked **like this**.")
    citation: Citation
    scores: ScoreBreakdown


class RewriteOut(BaseModel):
    original: str
    canonical: str


class SearchResult(BaseModel):
    query: str
    rewritten_query: str | None = Field(
        default=None, description="The query after glossary rewriting, if changed."
    )
    rewrites: list[RewriteOut] = Field(default_factory=list)
    paths: list[str] = Field(description="Retrieval paths used: bm25, dense, rerank.")
    hits: list[SearchHit]
    notes: list[str] = Field(default_factory=list)
    index_complete: bool = Field(
        default=True, description="False while the configured roots are still being indexed (see notes)."
    )

    def render(self) -> str:
        lines = [f"{len(self.hits)} result(s) for {self.query!r} via {' + '.join(self.paths) or 'nothing'}"]
        if self.rewritten_query:
            lines.append(f"(glossary rewrote the query to {self.rewritten_query!r})")
        lines.extend(f"note: {n}" for n in self.notes)
        for hit in self.hits:
            lines.append(
                f"\n[{hit.rank}] {hit.citation.render()}  (chunk {hit.id}, score {hit.scores.fused:.4f})"
            )
            lines.append(hit.snippet)
        return "\n".join(lines)


class ChunkOut(BaseModel):
    id: int
    ord: int = Field(description="Position of the chunk in its document (0-based).")
    text: str
    citation: Citation
    char_start: int
    char_end: int


class ChunkResult(BaseModel):
    chunk: ChunkOut
    before: list[ChunkOut] = Field(default_factory=list)
    after: list[ChunkOut] = Field(default_factory=list)

    def render(self) -> str:
        parts = [
            f"--- chunk {c.id} · {c.citation.render()}\n{c.text}"
            for c in [*self.before, self.chunk, *self.after]
        ]
        return "\n\n".join(parts)


class DocumentResult(BaseModel):
    collection: str
    path: str
    kind: str
    start_line: int
    end_line: int
    total_lines: int
    text: str
    truncated: bool = Field(
        description="True when the line range was cut at the size cap; continue at next_line."
    )
    next_line: int | None = None

    def render(self) -> str:
        more = f"\n[truncated: continue with start_line={self.next_line}]" if self.truncated else ""
        return f"{self.path} lines {self.start_line}-{self.end_line} of {self.total_lines}\n{self.text}{more}"


class CollectionOut(BaseModel):
    name: str
    strategy: str
    chunk_tokens: int
    overlap: int
    analyzer: str
    embedder: str | None
    documents: int
    chunks: int
    vectors: int
    updated_at: float


class CollectionsResult(BaseModel):
    collections: list[CollectionOut]

    def render(self) -> str:
        if not self.collections:
            return "No collections yet: index a folder with the `index` tool or `toolmesh docs index PATH`."
        return "\n".join(
            f"{c.name}: {c.documents} documents, {c.chunks} chunks, {c.vectors} vectors "
            f"({c.strategy}, {c.chunk_tokens} tokens, embedder {c.embedder or 'none'})"
            for c in self.collections
        )


class SkippedFile(BaseModel):
    path: str
    reason: str


class IndexingOut(BaseModel):
    """How far the server is in indexing its configured roots (done on start, in the background)."""

    state: Literal["idle", "pending", "indexing", "ready", "failed"] = Field(
        description="idle: no roots configured to index on start; pending/indexing: the first index is "
        "running; ready: every root indexed once; failed: no root could be indexed (see errors)."
    )
    files_done: int
    files_total: int = Field(description="Files found so far (roots not walked yet are not counted).")
    roots_done: int
    roots_total: int
    current: str | None = Field(default=None, description="The root being indexed now.")
    watching: bool = Field(description="True when changes under the roots are re-indexed as they happen.")
    errors: list[str] = Field(default_factory=list)

    def render(self) -> str:
        text = (
            f"indexing: {self.state}, {self.files_done} of {self.files_total} files, "
            f"{self.roots_done} of {self.roots_total} roots"
        )
        if self.current:
            text += f" (now {self.current})"
        if self.watching:
            text += ", watching for changes"
        return text + "".join(f"\nerror: {e}" for e in self.errors)


class StatusResult(BaseModel):
    store: str
    location: str
    roots: list[str]
    dense: bool = Field(description="False when the server works BM25-only.")
    embedder: str
    reranker: str
    fusion: str
    glossary_terms: int
    collections: list[CollectionOut]
    skipped: int = Field(
        default=0, description="Files the last index run of each collection in this process skipped."
    )
    skipped_files: list[SkippedFile] = Field(
        default_factory=list, description="The first of those files, each with its reason."
    )
    indexing: IndexingOut | None = None

    def render(self) -> str:
        mode = "hybrid (BM25 + dense)" if self.dense else "BM25 only"
        text = (
            f"store: {self.store} at {self.location}\nsearch: {mode}, fusion {self.fusion}\n"
            f"embedder: {self.embedder}\nreranker: {self.reranker}\nglossary: {self.glossary_terms} terms\n"
            f"roots: {', '.join(self.roots)}\ncollections: {len(self.collections)}"
        )
        if self.skipped:
            text += f"\nskipped: {self.skipped} file(s) in the last index run"
            text += "".join(f"\n  {f.path}: {f.reason}" for f in self.skipped_files)
        return text + (f"\n{self.indexing.render()}" if self.indexing is not None else "")


class IndexResult(BaseModel):
    collection: str
    files_seen: int
    indexed: int
    unchanged: int
    deleted: int
    chunks: int
    embedded: int
    skipped: list[SkippedFile]
    truncated: bool = Field(description="True when the file cap stopped the walk early.")
    seconds: float
    dense: bool

    def render(self) -> str:
        text = (
            f"{self.collection}: {self.indexed} indexed, {self.unchanged} unchanged, {self.deleted} removed, "
            f"{len(self.skipped)} skipped; {self.chunks} chunks, {self.embedded} embedded "
            f"in {self.seconds:.1f}s"
        )
        text += "" if self.dense else " (BM25 only: no embedding model)"
        for skipped in self.skipped[:20]:
            text += f"\nskipped {skipped.path}: {skipped.reason}"
        return text
