"""The result models of the code server's tools (each gives an output schema and structured content)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "CallEdge",
    "CalleeHit",
    "CalleesResult",
    "CallersResult",
    "DefinitionResult",
    "FileText",
    "Frame",
    "IndexStatus",
    "OutlineEntry",
    "OutlineResult",
    "Reference",
    "ReferencesResult",
    "ReindexResult",
    "RepoMapResult",
    "SearchMatch",
    "SearchResult",
    "SymbolHit",
    "SymbolSearchResult",
    "TracebackResult",
]


class SymbolHit(BaseModel):
    """One definition in the index."""

    id: int = Field(description="Stable until the file changes; pass to get_definition.")
    name: str
    qualname: str = Field(description="Qualified name, e.g. Class.method.")
    kind: str
    language: str
    path: str
    line: int
    end_line: int
    signature: str
    doc: str = Field(default="", description="First paragraph of the doc comment or docstring.")
    score: float = 0.0
    match: str = Field(
        default="exact",
        description="exact | qualified | name (bare name of a qualified query) | prefix | substring | fuzzy "
        "| described (a query of words its docstring holds)",
    )


class SymbolSearchResult(BaseModel):
    query: str
    hits: list[SymbolHit]
    truncated: bool = False


class DefinitionResult(BaseModel):
    symbol: SymbolHit
    source: str = Field(description="The definition's source, each line prefixed with its number.")
    start_line: int
    end_line: int
    truncated: bool = False
    others: list[SymbolHit] = Field(default_factory=list, description="Other definitions with the same name.")


class Reference(BaseModel):
    path: str
    line: int
    column: int
    text: str
    is_definition: bool = False


class ReferencesResult(BaseModel):
    symbol: str
    name: str
    references: list[Reference]
    total: int
    truncated: bool = False
    approximate: bool = Field(default=True, description="Matched by identifier name, not by type resolution.")


class CallEdge(BaseModel):
    caller: str | None = Field(description="Qualified name of the calling definition (None at module level).")
    caller_kind: str | None = None
    path: str
    line: int
    text: str = ""


class CallersResult(BaseModel):
    symbol: str
    callers: list[CallEdge]
    truncated: bool = False
    approximate: bool = True


class CalleeHit(BaseModel):
    name: str
    line: int
    definitions: list[SymbolHit] = Field(default_factory=list)


class CalleesResult(BaseModel):
    symbol: SymbolHit
    callees: list[CalleeHit]
    truncated: bool = False
    approximate: bool = True


class OutlineEntry(BaseModel):
    id: int
    name: str
    qualname: str
    kind: str
    line: int
    end_line: int
    depth: int
    signature: str


class OutlineResult(BaseModel):
    path: str
    language: str | None
    symbols: list[OutlineEntry]
    truncated: bool = False


class RepoMapResult(BaseModel):
    path: str
    map: str = Field(description="Files in order with their most important symbols, fitted to max_tokens.")
    files_shown: int
    files_total: int
    estimated_tokens: int
    truncated: bool = False


class SearchMatch(BaseModel):
    path: str
    line: int
    text: str
    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)


class SearchResult(BaseModel):
    pattern: str
    matches: list[SearchMatch]
    next_cursor: str | None = Field(default=None, description="Pass as cursor for the next page.")
    total_collected: int
    truncated: bool = Field(
        default=False, description="The match cap was hit; narrow the pattern or path_glob."
    )
    engine: str = Field(description="ripgrep or python")


class FileText(BaseModel):
    path: str
    start_line: int
    end_line: int
    total_lines: int
    text: str = Field(description="The lines, each prefixed with its number.")
    truncated: bool = False


class Frame(BaseModel):
    raw: str
    file: str
    line: int
    function: str | None = None
    path: str | None = Field(default=None, description="The repository file this frame maps to, if any.")
    symbol: SymbolHit | None = None
    snippet: str = ""


class TracebackResult(BaseModel):
    language: str
    error: str | None = Field(default=None, description="The exception / error line, when found.")
    frames: list[Frame]
    resolved: int


class IndexStatus(BaseModel):
    root: str
    index_path: str
    files: int
    languages: dict[str, int]
    symbols: int
    references: int
    calls: int
    complete: bool
    indexing: bool
    last_completed: float | None = None
    ripgrep: bool


class ReindexResult(BaseModel):
    files: int
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped_binary: int
    skipped_large: int
    errors: int
    seconds: float
