"""The block structure of a document's text: headings, paragraphs, code blocks and tables, with char offsets.

Markdown (ATX and setext headings, fenced code, pipe tables), reStructuredText (underlined/overlined titles,
literal blocks after ``::``, ``code-block`` directives, grid tables), plain text (paragraphs; "Chapter 3" /
"第三章" lines as chapter headings, so a novel has structure) and source code (blank-line separated blocks).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Block", "BlockKind", "LineIndex", "Syntax", "heading_path_at", "parse_blocks"]

BlockKind = Literal["heading", "paragraph", "code", "table"]
Syntax = Literal["markdown", "rst", "plain", "code"]


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    start: int
    end: int
    level: int = 0
    title: str = ""


class LineIndex:
    """Maps char offsets to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        self.starts.extend(m.end() for m in re.finditer("\n", text))

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """First and last line of the chars [start, end)."""
        return self.line_of(start), self.line_of(max(start, end - 1))


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_TABLE_LINE = re.compile(r"^ {0,3}\|")
_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.!_])\1{2,}[ \t]*$")
_RST_GRID = re.compile(r"^\s*[+|]")
_RST_DIRECTIVE_CODE = re.compile(r"^\s*\.\. (?:code-block|code|sourcecode|literalinclude)::")
_CHAPTER = re.compile(
    r"^\s*(?:(?:chapter|book|part|volume)\s+(?:[0-9]+|[ivxlcdm]+|[a-z]+)\b.{0,80}"
    r"|第[0-9一二三四五六七八九十百千零〇两]+[章回卷节部篇].{0,40}|prologue|epilogue)\s*$",
    re.IGNORECASE,
)


def _lines(text: str) -> list[tuple[int, int, str]]:
    """(start, end_without_newline, line) for each line."""
    out: list[tuple[int, int, str]] = []
    pos = 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line), line))
        pos += len(line) + 1
    return out


def parse_blocks(text: str, syntax: Syntax) -> list[Block]:
    if syntax == "markdown":
        return _markdown(text)
    if syntax == "rst":
        return _rst(text)
    return _paragraphs(text, code=syntax == "code")


def _markdown(text: str) -> list[Block]:
    lines = _lines(text)
    blocks: list[Block] = []
    para: list[tuple[int, int, str]] = []

    def flush() -> None:
        if para:
            blocks.append(Block("paragraph", para[0][0], para[-1][1]))
            para.clear()

    i = 0
    while i < len(lines):
        start, end, line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            j = i + 1
            while j < len(lines) and not lines[j][2].lstrip().startswith(marker[0] * len(marker)):
                j += 1
            last = min(j, len(lines) - 1)
            blocks.append(Block("code", start, lines[last][1]))
            i = last + 1
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            blocks.append(Block("heading", start, end, len(atx.group(1)), atx.group(2).strip()))
            i += 1
            continue
        if _TABLE_LINE.match(line):
            flush()
            j = i
            while j + 1 < len(lines) and _TABLE_LINE.match(lines[j + 1][2]):
                j += 1
            blocks.append(Block("table", start, lines[j][1]))
            i = j + 1
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        if (
            not para
            and i + 1 < len(lines)
            and _SETEXT.match(lines[i + 1][2])
            and not line.startswith(("    ", "\t", "-", "*", ">"))
        ):
            level = 1 if lines[i + 1][2].strip().startswith("=") else 2
            blocks.append(Block("heading", start, lines[i + 1][1], level, line.strip()))
            i += 2
            continue
        if line.startswith(("    ", "\t")) and not para:
            j = i
            while j + 1 < len(lines) and (
                lines[j + 1][2].startswith(("    ", "\t")) or not lines[j + 1][2].strip()
            ):
                j += 1
            while j > i and not lines[j][2].strip():
                j -= 1
            blocks.append(Block("code", start, lines[j][1]))
            i = j + 1
            continue
        para.append(lines[i])
        i += 1
    flush()
    return blocks


def _rst(text: str) -> list[Block]:
    lines = _lines(text)
    blocks: list[Block] = []
    styles: list[tuple[str, bool]] = []
    para: list[tuple[int, int, str]] = []
    literal_next = False

    def flush() -> None:
        nonlocal literal_next
        if para:
            literal_next = para[-1][2].rstrip().endswith("::")
            blocks.append(Block("paragraph", para[0][0], para[-1][1]))
            para.clear()

    def level_of(char: str, over: bool) -> int:
        if (char, over) not in styles:
            styles.append((char, over))
        return styles.index((char, over)) + 1

    i = 0
    while i < len(lines):
        start, _end, line = lines[i]
        stripped = line.strip()
        # Overlined title: adornment, title, adornment.
        if (
            _RST_ADORN.match(line)
            and i + 2 < len(lines)
            and lines[i + 1][2].strip()
            and _RST_ADORN.match(lines[i + 2][2])
            and lines[i + 2][2].strip()[0] == stripped[0]
        ):
            flush()
            blocks.append(
                Block("heading", start, lines[i + 2][1], level_of(stripped[0], True), lines[i + 1][2].strip())
            )
            i += 3
            continue
        if (
            stripped
            and not para
            and i + 1 < len(lines)
            and _RST_ADORN.match(lines[i + 1][2])
            and len(lines[i + 1][2].strip()) >= len(stripped)
            and not _RST_ADORN.match(line)
        ):
            flush()
            blocks.append(
                Block(
                    "heading", start, lines[i + 1][1], level_of(lines[i + 1][2].strip()[0], False), stripped
                )
            )
            i += 2
            continue
        if _RST_DIRECTIVE_CODE.match(line) or (literal_next and line.startswith((" ", "\t")) and stripped):
            flush()
            j = i
            while j + 1 < len(lines) and (
                lines[j + 1][2].startswith((" ", "\t")) or not lines[j + 1][2].strip()
            ):
                j += 1
            while j > i and not lines[j][2].strip():
                j -= 1
            blocks.append(Block("code", start, lines[j][1]))
            literal_next = False
            i = j + 1
            continue
        if stripped.startswith(("+-", "+=")) and _RST_GRID.match(line):
            flush()
            j = i
            while j + 1 < len(lines) and _RST_GRID.match(lines[j + 1][2]):
                j += 1
            blocks.append(Block("table", start, lines[j][1]))
            i = j + 1
            continue
        if not stripped:
            flush()
            i += 1
            continue
        literal_next = False
        para.append(lines[i])
        i += 1
    flush()
    return blocks


def _paragraphs(text: str, *, code: bool) -> list[Block]:
    blocks: list[Block] = []
    para: list[tuple[int, int, str]] = []
    kind: BlockKind = "paragraph"

    def flush() -> None:
        if para:
            blocks.append(Block(kind, para[0][0], para[-1][1]))
            para.clear()

    for start, end, line in _lines(text):
        if not line.strip():
            flush()
            continue
        if not code and not para and len(line) < 100 and _CHAPTER.match(line):
            blocks.append(Block("heading", start, end, 1, line.strip()))
            continue
        para.append((start, end, line))
    flush()
    return blocks


def heading_path_at(blocks: list[Block], offset: int) -> tuple[str, ...]:
    """The heading path in force at ``offset`` (titles of the enclosing headings, outermost first)."""
    path: list[tuple[int, str]] = []
    for block in blocks:
        if block.start > offset:
            break
        if block.kind == "heading":
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.title))
    return tuple(title for _, title in path)
