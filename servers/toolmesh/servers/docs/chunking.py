"""Chunking strategies, chosen per collection.

Every strategy returns :class:`ChunkSpan` s: a char span of the document text and the heading path in force
there. Line spans are derived from char spans by the indexer, so every chunk can be cited exactly.

- ``fixed``: windows of N tokens, no overlap.
- ``sliding``: windows of N tokens overlapping by M.
- ``sentence``: whole sentences (English and Chinese sentence ends) packed up to N tokens.
- ``heading``: sections under Markdown/RST/HTML headings, blocks packed up to N tokens; code blocks and tables
  are never split (up to a hard cap of 8 N tokens); long paragraphs split at sentence ends.
- ``semantic``: sentences grouped, splitting where adjacent-sentence similarity drops (embedder-based).
- ``book``: long documents: chapters → sections → overlapping windows that never cross a section boundary.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from toolmesh.protocols.text import count_tokens, split_sentences, token_spans
from toolmesh.servers.docs.errors import DocsInputError
from toolmesh.servers.docs.structure import Block, Syntax, parse_blocks

__all__ = ["STRATEGIES", "ChunkSpan", "ChunkingConfig", "HeadingIndex", "Strategy", "chunk_text"]

Strategy = Literal["fixed", "sliding", "sentence", "heading", "semantic", "book"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
EmbedFn = Callable[[list[str]], npt.NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    start: int
    end: int
    heading_path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    strategy: Strategy = "heading"
    tokens: int = 256
    overlap: int = 48
    # semantic: split where similarity falls below this percentile of the document's adjacent similarities.
    semantic_percentile: float = 25.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise DocsInputError(
                f"unknown chunking strategy {self.strategy!r}", hint=f"Use one of {STRATEGIES}."
            )
        if self.tokens < 8:
            raise DocsInputError("chunk size must be at least 8 tokens")
        if not 0 <= self.overlap < self.tokens:
            raise DocsInputError(
                f"overlap ({self.overlap}) must be at least 0 and below the chunk size ({self.tokens})"
            )


class HeadingIndex:
    """Heading path at any offset, by binary search over the document's headings."""

    def __init__(self, blocks: Sequence[Block]) -> None:
        self.offsets: list[int] = []
        self.paths: list[tuple[str, ...]] = []
        stack: list[tuple[int, str]] = []
        for block in blocks:
            if block.kind != "heading":
                continue
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.title))
            self.offsets.append(block.start)
            self.paths.append(tuple(t for _, t in stack))

    def at(self, offset: int) -> tuple[str, ...]:
        i = bisect.bisect_right(self.offsets, offset) - 1
        return self.paths[i] if i >= 0 else ()


def chunk_text(
    text: str, syntax: Syntax, config: ChunkingConfig, *, embed: EmbedFn | None = None
) -> list[ChunkSpan]:
    """Chunk ``text`` (whose structure is read as ``syntax``) with ``config``."""
    if not text.strip():
        return []
    blocks = parse_blocks(text, syntax)
    headings = HeadingIndex(blocks)
    strategy = config.strategy
    if strategy == "fixed":
        spans = _windows(text, 0, len(text), config.tokens, 0)
    elif strategy == "sliding":
        spans = _windows(text, 0, len(text), config.tokens, config.overlap)
    elif strategy == "sentence":
        spans = _pack(_units(text, blocks, syntax), text, config.tokens, blocks)
    elif strategy == "heading":
        spans = _heading(text, blocks, syntax, config.tokens)
    elif strategy == "semantic":
        spans = _semantic(text, blocks, syntax, config, embed)
    else:
        spans = _book(text, blocks, config)
    out: list[ChunkSpan] = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append(ChunkSpan(start, end, headings.at(start)))
    return out


def _windows(text: str, lo: int, hi: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Windows of ``size`` tokens over text[lo:hi] stepping size - overlap tokens."""
    spans = [(lo + s, lo + e) for s, e in token_spans(text[lo:hi])]
    if not spans:
        return [(lo, hi)] if text[lo:hi].strip() else []
    step = size - overlap
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        j = min(i + size, len(spans))
        start = lo if i == 0 else spans[i][0]
        end = hi if j == len(spans) else spans[j - 1][1]
        out.append((start, end))
        if j == len(spans):
            break
        i += step
    return out


def _units(text: str, blocks: Sequence[Block], syntax: Syntax) -> list[tuple[int, int]]:
    """Sentence-level units; headings, code blocks and tables are single units; code files split by lines."""
    units: list[tuple[int, int]] = []
    for block in blocks:
        if block.kind == "paragraph" and syntax != "code":
            units.extend(split_sentences(text[block.start : block.end], block.start))
        elif block.kind == "paragraph":
            pos = block.start
            for line in text[block.start : block.end].split("\n"):
                if line.strip():
                    units.append((pos, pos + len(line)))
                pos += len(line) + 1
        else:
            units.append((block.start, block.end))
    return units


def _pack(
    units: Sequence[tuple[int, int]], text: str, size: int, blocks: Sequence[Block]
) -> list[tuple[int, int]]:
    """Greedy packing of consecutive units up to ``size`` tokens; a new heading always starts a new chunk."""
    heading_starts = {b.start for b in blocks if b.kind == "heading"}
    out: list[tuple[int, int]] = []
    cur_start = -1
    cur_end = -1
    cur_tokens = 0
    for start, end in units:
        tokens = count_tokens(text[start:end])
        if cur_start >= 0 and (cur_tokens + tokens > size or start in heading_starts):
            out.append((cur_start, cur_end))
            cur_start = -1
            cur_tokens = 0
        if tokens > size and start not in heading_starts:
            out.extend(_windows(text, start, end, size, 0))
            continue
        if cur_start < 0:
            cur_start = start
        cur_end = end
        cur_tokens += tokens
    if cur_start >= 0:
        out.append((cur_start, cur_end))
    return out


def _heading(text: str, blocks: Sequence[Block], syntax: Syntax, size: int) -> list[tuple[int, int]]:
    hard_cap = size * 8
    out: list[tuple[int, int]] = []
    cur: list[tuple[int, int]] = []
    cur_tokens = 0
    pending_heading: int | None = None  # start of headings not yet attached to content

    def flush() -> None:
        nonlocal cur_tokens
        if cur:
            out.append((cur[0][0], cur[-1][1]))
            cur.clear()
        cur_tokens = 0

    for block in blocks:
        tokens = count_tokens(text[block.start : block.end])
        if block.kind == "heading":
            flush()
            if pending_heading is None:
                pending_heading = block.start
            continue
        start = pending_heading if pending_heading is not None else block.start
        head_tokens = count_tokens(text[start : block.start]) if pending_heading is not None else 0
        pending_heading = None
        if cur and cur_tokens + tokens > size:
            flush()
        if tokens + head_tokens > size:
            flush()
            if block.kind in ("code", "table") and tokens <= hard_cap:
                out.append((start, block.end))
            elif block.kind in ("code", "table"):
                out.extend(_line_windows(text, start, block.end, hard_cap))
            else:
                units = _units(text, [Block("paragraph", block.start, block.end)], syntax)
                packed = _pack(units, text, size, [])
                if packed:
                    packed[0] = (start, packed[0][1])
                out.extend(packed)
            continue
        cur.append((start, block.end))
        cur_tokens += tokens + head_tokens
    flush()
    if pending_heading is not None:
        out.append((pending_heading, len(text)))
    return out


def _line_windows(text: str, lo: int, hi: int, size: int) -> list[tuple[int, int]]:
    """Split an oversized atomic block at line boundaries (only past the hard cap)."""
    out: list[tuple[int, int]] = []
    start = lo
    tokens = 0
    pos = lo
    for line in text[lo:hi].split("\n"):
        line_tokens = count_tokens(line)
        if tokens and tokens + line_tokens > size:
            out.append((start, pos - 1))
            start = pos
            tokens = 0
        tokens += line_tokens
        pos += len(line) + 1
    out.append((start, hi))
    return out


def _semantic(
    text: str, blocks: Sequence[Block], syntax: Syntax, config: ChunkingConfig, embed: EmbedFn | None
) -> list[tuple[int, int]]:
    units = _units(text, blocks, syntax)
    if len(units) < 3:
        return _pack(units, text, config.tokens, blocks)
    if embed is None:
        from toolmesh.servers.docs.embedders import HashingEmbedder

        embed = HashingEmbedder().embed
    vectors = embed([text[s:e] for s, e in units])
    sims = np.sum(vectors[:-1] * vectors[1:], axis=1)
    threshold = float(np.percentile(sims, config.semantic_percentile))
    heading_starts = {b.start for b in blocks if b.kind == "heading"}
    min_tokens = max(8, config.tokens // 8)
    out: list[tuple[int, int]] = []
    cur_start = units[0][0]
    cur_end = units[0][1]
    cur_tokens = count_tokens(text[cur_start:cur_end])
    for i in range(1, len(units)):
        start, end = units[i]
        tokens = count_tokens(text[start:end])
        topic_shift = sims[i - 1] < threshold and cur_tokens >= min_tokens
        if start in heading_starts or topic_shift or cur_tokens + tokens > config.tokens:
            out.append((cur_start, cur_end))
            cur_start, cur_tokens = start, 0
        cur_end = end
        cur_tokens += tokens
    out.append((cur_start, cur_end))
    final: list[tuple[int, int]] = []
    for start, end in out:  # a single sentence above the cap still gets windowed
        if count_tokens(text[start:end]) > config.tokens:
            final.extend(_windows(text, start, end, config.tokens, 0))
        else:
            final.append((start, end))
    return final


def _book(text: str, blocks: Sequence[Block], config: ChunkingConfig) -> list[tuple[int, int]]:
    """Sections between consecutive headings (chapters, then sections), each windowed with overlap."""
    bounds = [b.start for b in blocks if b.kind == "heading"]
    if not bounds or bounds[0] > 0:
        bounds.insert(0, 0)
    bounds.append(len(text))
    out: list[tuple[int, int]] = []
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo and text[lo:hi].strip():
            out.extend(_windows(text, lo, hi, config.tokens, config.overlap))
    return out
