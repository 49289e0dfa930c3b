"""Reading files into a document's canonical text.

For text formats (Markdown/MDX, plain text, reStructuredText, source code) the canonical text *is* the file,
so citations' line numbers match the file in any editor. HTML, PDF and Jupyter notebooks are converted to a
Markdown-like text (headings as ``#`` lines, code fenced, tables as pipe rows); the index stores that text,
and ``get_document`` refers to it. PDF pages are recorded so chunks cite their page; HTML and notebooks carry
a source map, so chunks also cite the lines of the file on disk and a location (cell, element path). Text
encodings are detected (``readers.encoding``). The readers live in ``readers/``, one module per format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toolmesh.servers.docs.readers.encoding import decode
from toolmesh.servers.docs.readers.html import read_html
from toolmesh.servers.docs.readers.notebook import read_notebook
from toolmesh.servers.docs.readers.pdf import read_pdf
from toolmesh.servers.docs.readers.sourcemap import SourceMap
from toolmesh.servers.docs.structure import Syntax

__all__ = ["KINDS", "Extracted", "Kind", "extract", "kind_of"]

Kind = Literal["markdown", "text", "rst", "html", "pdf", "notebook", "source"]

_EXTENSIONS: dict[str, Kind] = {
    **dict.fromkeys((".md", ".markdown", ".mdx", ".mdown", ".mkd"), "markdown"),
    **dict.fromkeys((".txt", ".text"), "text"),
    **dict.fromkeys((".rst", ".rest"), "rst"),
    **dict.fromkeys((".html", ".htm", ".xhtml"), "html"),
    ".pdf": "pdf",
    ".ipynb": "notebook",
    **dict.fromkeys(
        (
            ".py",
            ".pyi",
            ".js",
            ".mjs",
            ".cjs",
            ".ts",
            ".tsx",
            ".jsx",
            ".go",
            ".rs",
            ".java",
            ".kt",
            ".kts",
            ".scala",
            ".c",
            ".h",
            ".cc",
            ".cpp",
            ".cxx",
            ".hpp",
            ".cs",
            ".rb",
            ".php",
            ".swift",
            ".m",
            ".lua",
            ".r",
            ".jl",
            ".sh",
            ".bash",
            ".zsh",
            ".ps1",
            ".sql",
            ".css",
            ".scss",
            ".vue",
            ".svelte",
            ".toml",
            ".yaml",
            ".yml",
            ".ini",
            ".cfg",
            ".proto",
            ".graphql",
            ".tf",
            ".ex",
            ".exs",
            ".erl",
            ".hs",
            ".ml",
            ".clj",
            ".dart",
            ".zig",
            ".nim",
            ".pl",
            ".dockerfile",
        ),
        "source",
    ),
}
KINDS: tuple[Kind, ...] = ("markdown", "text", "rst", "html", "pdf", "notebook", "source")
_SYNTAX: dict[Kind, Syntax] = {
    "markdown": "markdown",
    "text": "plain",
    "rst": "rst",
    "html": "markdown",
    "pdf": "plain",
    "notebook": "markdown",
    "source": "code",
}
_SPECIAL_NAMES: dict[str, Kind] = {
    "readme": "text",
    "license": "text",
    "makefile": "source",
    "dockerfile": "source",
}


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    kind: Kind
    syntax: Syntax
    # (char offset, page number) where each PDF page starts.
    pages: list[tuple[int, int]] = field(default_factory=list)
    # True when the canonical text differs from the file's bytes (HTML, PDF, notebooks).
    converted: bool = False
    # Where converted text came from in the file (HTML, notebooks); empty for text formats and PDFs.
    source_map: SourceMap = field(default_factory=lambda: SourceMap([]))


def kind_of(path: Path) -> Kind | None:
    """The document kind a file name says, or None for files the indexer skips."""
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None and not path.suffix:
        kind = _SPECIAL_NAMES.get(path.name.lower())
    return kind


def extract(path: Path, data: bytes, kind: Kind) -> Extracted:
    """The canonical text of a file whose bytes are ``data``."""
    name = path.name
    if kind == "pdf":
        text, pages = read_pdf(data, name)
        return Extracted(text, "pdf", "plain", pages=pages, converted=True)
    text = decode(data, name, markup=kind == "html")
    if kind == "html":
        text, origins = read_html(text, name)
        return Extracted(text, "html", "markdown", converted=True, source_map=SourceMap(origins))
    if kind == "notebook":
        text, origins = read_notebook(text, name)
        return Extracted(text, "notebook", "markdown", converted=True, source_map=SourceMap(origins))
    return Extracted(text, kind, _SYNTAX[kind])
