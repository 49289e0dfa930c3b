"""HTML pages: the main content as Markdown-like text (headings, paragraphs, lists, code, tables).

Scripts, styles, navigation, headers, footers, asides and forms are dropped; the content root is
``<main>``, ``<article>``, ``[role=main]`` or ``<body>``. The tree is walked with an explicit stack, never by
recursion, so a page nested thousands of levels deep converts like any other. Each block records the file
lines it came from (from the parser's source positions) and its element path, e.g.
``html > body > main > section#install > p:nth-of-type(2)``, which a browser's ``querySelector`` accepts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from toolmesh.servers.docs.errors import ExtractionError
from toolmesh.servers.docs.readers.sourcemap import Origin

__all__ = ["read_html"]

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
    (
        *("p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote"),
        *("figure", "figcaption", "address", "details", "summary", "br", "hr", "tr", "body", "html"),
    )
)
_HEADING = re.compile(r"h[1-6]")
_SPACES = re.compile(r"\s+")
_PATH_DEPTH = 8  # element paths keep their last components ("… > " before them)


@dataclass(frozen=True, slots=True)
class _Path:
    """An element path as a linked list (deep pages share their prefixes instead of copying them)."""

    parent: _Path | None
    step: str

    def render(self) -> str:
        steps: list[str] = []
        node: _Path | None = self
        while node is not None and len(steps) < _PATH_DEPTH:
            steps.append(node.step)
            node = node.parent
        head = "… > " if node is not None else ""
        return head + " > ".join(reversed(steps))


def _step(tag: Any, nth: int, of: int) -> str:
    ident = tag.get("id")
    if isinstance(ident, str) and re.fullmatch(r"[A-Za-z][\w-]{0,60}", ident):
        return f"{tag.name}#{ident}"
    return f"{tag.name}:nth-of-type({nth})" if of > 1 else str(tag.name)


def _path_of(tag: Any) -> _Path | None:
    """The path from the document root to ``tag`` (walking up, no recursion); None for the document."""
    chain: list[Any] = []
    node = tag
    while node is not None and node.parent is not None:
        chain.append(node)
        node = node.parent
    path: _Path | None = None
    for element in reversed(chain):
        same = element.parent.find_all(element.name, recursive=False)
        nth = next((i for i, c in enumerate(same, start=1) if c is element), 1)
        path = _Path(path, _step(element, nth, len(same)))
    return path


class _Writer:
    """Collects blocks and their origins."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, int, int, str]] = []
        self._inline: list[str] = []
        self._first = 0
        self._last = 0
        self._where = ""

    def text(self, piece: str, line: int, where: str) -> None:
        if piece.strip() and not any(p.strip() for p in self._inline):
            self._first, self._where = line + piece[: len(piece) - len(piece.lstrip())].count("\n"), where
        self._inline.append(piece)
        if piece.strip():
            self._last = line + piece.rstrip().count("\n")

    def flush(self, prefix: str = "") -> None:
        text = _SPACES.sub(" ", "".join(self._inline)).strip()
        self._inline.clear()
        if text:
            self.blocks.append((prefix + text, self._first, self._last, self._where))

    def block(self, text: str, first: int, last: int, where: str) -> None:
        if text:
            self.blocks.append((text, first, last, where))


def _table(tag: Any) -> str:
    rows: list[str] = []
    for tr in tag.find_all("tr"):
        cells = [
            _SPACES.sub(" ", c.get_text(" ")).strip().replace("|", "\\|") for c in tr.find_all(["td", "th"])
        ]
        if cells:
            rows.append("| " + " | ".join(cells) + " |")
            if len(rows) == 1:
                rows.append("|" + "---|" * len(cells))
    return "\n".join(rows)


_Item = tuple[Any, str, "_Path | None"]


def _children(node: Any, prefix: str, path: _Path | None) -> list[_Item]:
    """``node``'s children, last first (for the stack), each tag with its own path, text with its parent's."""
    from bs4.element import Tag

    kids = list(node.children)
    totals = Counter(c.name for c in kids if isinstance(c, Tag))
    seen: Counter[str] = Counter()
    items: list[_Item] = []
    for child in kids:
        if isinstance(child, Tag):
            seen[child.name] += 1
            items.append((child, prefix, _Path(path, _step(child, seen[child.name], totals[child.name]))))
        else:
            items.append((child, prefix, path))
    items.reverse()
    return items


def _walk(root: Any, writer: _Writer) -> None:
    from bs4.element import Comment, Doctype, NavigableString, Tag

    end = object()  # marks "flush the block that ends here"
    stack = _children(root, "", _path_of(root))
    line = getattr(root, "sourceline", None) or 1
    while stack:
        node, prefix, path = stack.pop()
        where = path.render() if path is not None else "html"
        if node is end:
            writer.flush(prefix)
        elif isinstance(node, NavigableString):
            if not isinstance(node, (Comment, Doctype)):
                writer.text(str(node), line, where)
            line += str(node).count("\n")
        elif isinstance(node, Tag):
            line = node.sourceline or line
            tag = node.name.lower()
            if _HEADING.fullmatch(tag) or tag in ("pre", "table"):
                writer.flush(prefix)
                raw = node.get_text()
                writer.block(_whole_block(node, tag, raw), line, line + raw.rstrip().count("\n"), where)
                line += raw.count("\n")
            elif tag == "li":
                writer.flush(prefix)
                stack.append((end, "- ", path))
                stack.extend(_children(node, "- ", path))
            elif tag in _BLOCK_TAGS:
                writer.flush(prefix)
                stack.append((end, prefix, path))
                stack.extend(_children(node, prefix, path))
            else:
                stack.extend(_children(node, prefix, path))
    writer.flush()


def _whole_block(node: Any, tag: str, raw: str) -> str:
    """A heading, ``<pre>`` or table as one block of converted text ("" when it holds no text)."""
    if tag == "pre":
        code = raw.strip("\n")
        return "```\n" + code.replace("```", "`\u200b``") + "\n```" if code.strip() else ""
    if tag == "table":
        return _table(node)
    heading = _SPACES.sub(" ", node.get_text(" ")).strip()
    return "#" * int(tag[1]) + " " + heading if heading else ""


def read_html(markup: str, name: str) -> tuple[str, list[Origin]]:
    """The page's converted text and where each of its blocks came from."""
    from bs4 import BeautifulSoup
    from bs4.element import Tag

    try:
        soup = BeautifulSoup(markup, "html.parser")
    except Exception as exc:  # html.parser raises assorted errors on hostile input
        raise ExtractionError(
            f"{name}: unreadable HTML ({type(exc).__name__}: {str(exc)[:120]})",
            hint="Check that the file is HTML, or exclude it.",
        ) from exc
    title_tag = soup.find("title")
    title = _SPACES.sub(" ", title_tag.get_text()).strip() if isinstance(title_tag, Tag) else ""
    title_line = (title_tag.sourceline or 1) if isinstance(title_tag, Tag) else 1
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.select_one('[role="main"]') or soup.body or soup
    writer = _Writer()
    if isinstance(root, Tag):
        _walk(root, writer)
    blocks = writer.blocks
    if title and not any(b[0].startswith("# ") for b in blocks):
        blocks.insert(0, ("# " + title, title_line, title_line, "html > head > title"))
    origins: list[Origin] = []
    offset = 0
    for text, first, last, where in blocks:
        origins.append(Origin(offset, first, max(first, last), where))
        offset += len(text) + 2
    return "\n\n".join(b[0] for b in blocks), origins
