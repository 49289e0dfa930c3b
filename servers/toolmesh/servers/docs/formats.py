"""Reading files into a document's canonical text.

For text formats (Markdown/MDX, plain text, reStructuredText, source code) the canonical text *is* the file,
so citations' line numbers match the file in any editor. HTML, PDF and Jupyter notebooks are converted to a
Markdown-like text (headings as ``#`` lines, code fenced, tables as pipe rows); the index stores that text,
and ``get_document`` and citations refer to it. PDF pages are recorded so chunks cite their page.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toolmesh.servers.docs.errors import ExtractionError
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


def kind_of(path: Path) -> Kind | None:
    """The document kind a file name says, or None for files the indexer skips."""
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None and not path.suffix:
        kind = _SPECIAL_NAMES.get(path.name.lower())
    return kind


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:8192]:
        raise ExtractionError(
            f"{name} looks binary (NUL bytes); not indexed", hint="Index text documents only."
        )
    text = data.decode("utf-8-sig", errors="replace")
    sample = text[:20000]
    if sample and sample.count("\ufffd") > max(8, len(sample) // 100):
        raise ExtractionError(f"{name} is not UTF-8 text; not indexed", hint="Convert it to UTF-8 first.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def extract(path: Path, data: bytes, kind: Kind) -> Extracted:
    """The canonical text of a file whose bytes are ``data``."""
    name = path.name
    if kind == "pdf":
        return _pdf(data, name)
    text = _decode(data, name)
    if kind == "html":
        return Extracted(_html(text, name), "html", "markdown", converted=True)
    if kind == "notebook":
        return Extracted(_notebook(text, name), "notebook", "markdown", converted=True)
    return Extracted(text, kind, _SYNTAX[kind])


def _pdf(data: bytes, name: str) -> Extracted:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        parts: list[str] = []
        pages: list[tuple[int, int]] = []
        offset = 0
        for number, page in enumerate(reader.pages, start=1):
            if number > 5000:
                break
            page_text = (page.extract_text() or "").replace("\r\n", "\n").replace("\r", "\n").strip()
            pages.append((offset, number))
            parts.append(page_text)
            offset += len(page_text) + 2
    except Exception as exc:  # pypdf raises many types on malformed input
        raise ExtractionError(
            f"{name} is not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})",
            hint="Check that the file is a valid, unencrypted PDF.",
        ) from exc
    text = "\n\n".join(parts)
    if not text.strip():
        raise ExtractionError(
            f"{name} has no extractable text (scanned images?)", hint="Run OCR on it first."
        )
    return Extracted(text, "pdf", "plain", pages=pages, converted=True)


_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "footer",
    "header",
    "aside",
    "form",
    "iframe",
)
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "br",
        "hr",
        "tr",
        "body",
        "html",
    ]
)
_SPACES = re.compile(r"\s+")


def _html(markup: str, name: str) -> str:
    from bs4 import BeautifulSoup
    from bs4.element import Comment, Doctype, NavigableString, Tag

    try:
        soup = BeautifulSoup(markup, "html.parser")
    except Exception as exc:
        raise ExtractionError(f"{name}: unreadable HTML ({type(exc).__name__})") from exc
    title_tag = soup.find("title")
    title = _SPACES.sub(" ", title_tag.get_text()).strip() if isinstance(title_tag, Tag) else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.select_one('[role="main"]') or soup.body or soup
    blocks: list[str] = []
    inline: list[str] = []

    def flush(prefix: str = "") -> None:
        text = _SPACES.sub(" ", "".join(inline)).strip()
        inline.clear()
        if text:
            blocks.append(prefix + text)

    def walk(node: Tag, prefix: str = "") -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype)):
                continue
            if isinstance(child, NavigableString):
                inline.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            tag = child.name.lower()
            if re.fullmatch(r"h[1-6]", tag):
                flush(prefix)
                heading = _SPACES.sub(" ", child.get_text(" ")).strip()
                if heading:
                    blocks.append("#" * int(tag[1]) + " " + heading)
            elif tag == "pre":
                flush(prefix)
                code = child.get_text().strip("\n")
                if code.strip():
                    blocks.append("```\n" + code.replace("```", "`\u200b``") + "\n```")
            elif tag == "table":
                flush(prefix)
                rows: list[str] = []
                for tr in child.find_all("tr"):
                    cells = [
                        _SPACES.sub(" ", c.get_text(" ")).strip().replace("|", "\\|")
                        for c in tr.find_all(["td", "th"])
                    ]
                    if cells:
                        rows.append("| " + " | ".join(cells) + " |")
                        if len(rows) == 1:
                            rows.append("|" + "---|" * len(cells))
                if rows:
                    blocks.append("\n".join(rows))
            elif tag == "li":
                flush(prefix)
                walk(child, "- ")
                flush("- ")
            elif tag in _BLOCK_TAGS:
                flush(prefix)
                walk(child, prefix)
                flush(prefix)
            else:
                walk(child, prefix)

    if isinstance(root, Tag):
        walk(root)
    flush()
    if title and not any(b.startswith("# ") for b in blocks):
        blocks.insert(0, "# " + title)
    return "\n\n".join(blocks)


def _notebook(text: str, name: str) -> str:
    try:
        notebook = json.loads(text)
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise TypeError("cells is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ExtractionError(f"{name} is not a Jupyter notebook ({exc})") from exc
    metadata = notebook.get("metadata") or {}
    language = str(
        (metadata.get("kernelspec") or {}).get("language")
        or (metadata.get("language_info") or {}).get("name")
        or ""
    )
    parts: list[str] = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        body = "".join(source) if isinstance(source, list) else str(source)
        if not body.strip():
            continue
        if cell.get("cell_type") == "markdown":
            parts.append(body.strip("\n"))
        elif cell.get("cell_type") == "code":
            parts.append(f"```{language}\n{body.strip(chr(10))}\n```")
    return "\n\n".join(parts)
