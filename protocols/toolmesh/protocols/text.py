"""The one text analyser: every slice that counts, splits or ranks text uses it (docs chunking and search,
the planner's question analysis and tool catalog, the reviewer's checks).

- :func:`count_tokens` / :func:`token_spans`: a model-agnostic token measure (a word, a number or one CJK
  character each count as one token) used for chunk sizes.
- :class:`Analyzer`: the BM25 analysis. Latin words are lower-cased and Snowball-stemmed (English), runs of
  CJK text are segmented with jieba, stop words are dropped. The same analysis runs over documents and
  queries, so the full-text index only ever sees plain word tokens: user text never reaches FTS5 as query
  syntax.
- :func:`split_sentences`: English and Chinese sentence ends.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

__all__ = [
    "ANALYZERS",
    "Analyzer",
    "analyzer_named",
    "contains_cjk",
    "count_tokens",
    "segment",
    "segment_tagged",
    "split_sentences",
    "token_spans",
]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_RE = re.compile(f"[{_CJK}]")
# One token: a CJK character, or a run of letters/digits (with inner apostrophes, dots in numbers).
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}_]+(?:['’.][^\W{_CJK}_]+)*")
_WORD_RE = re.compile(rf"[{_CJK}]+|[^\W{_CJK}_]+")

_EN_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "been",
        "were",
        "from",
        "than",
        "so",
        "can",
        "could",
        "would",
        "should",
        "may",
        "might",
        "must",
        "shall",
        "i",
        "you",
        "he",
        "she",
        "we",
        "me",
        "my",
        "our",
        "your",
        "his",
        "her",
        "them",
        "us",
    ]
)
_ZH_STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "也",
        "就",
        "都",
        "而",
        "又",
        "被",
        "把",
        "让",
        "给",
        "对",
        "从",
        "向",
        "吗",
        "呢",
        "吧",
        "啊",
        "哪",
        "什么",
        "怎么",
        "哪些",
        "哪个",
        "多少",
        "几",
        "这",
        "那",
        "其",
        "之",
    ]
)


def contains_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


def token_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every token in ``text``."""
    for match in _TOKEN_RE.finditer(text):
        yield match.start(), match.end()


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN_RE.finditer(text))


_SENTENCE_END = re.compile(
    r"""(?:(?<=[.!?])["')\]’”]*\s+(?=["'(\[‘“]?[A-Z0-9\u4e00-\u9fff])"""  # English: .!? + space
    r"""|(?<=[。！？；…])["')\]’”」』]*"""  # Chinese: sentence end, no space needed
    r"""|\n\s*\n)"""  # a blank line always ends a sentence
)
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Ms|Prof|Fig|al|No|St|cf)\.|\b[A-Z]\.)$")


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of ``text``, shifted by ``offset``, whitespace trimmed, none empty."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end <= start:
            continue
        if _ABBREV.search(text[start : match.start()].rstrip()):
            continue
        spans.append((start, end))
        start = end
    if start < len(text):
        spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        piece = text[s:e]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if e - trail > s + lead:
            out.append((offset + s + lead, offset + e - trail))
    return out


_JIEBA_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _jieba() -> Any:
    with _JIEBA_LOCK:
        module = importlib.import_module("jieba")
        module.setLogLevel(logging.WARNING)
        module.initialize()
        return module


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return importlib.import_module("Stemmer").Stemmer("english")


_NUMERAL_WORD = re.compile(r"\d+|[一二两三四五六七八九十百千万几]+|多少")
_CLASSIFIER = "位个名件种条家笔张次款台只本"


def _glued(previous: str, word: str) -> bool:
    """Whether jieba glued a classifier to the word after a number: 多少|位新 (the classifier 位 belongs
    to the number, 新 to the noun after it)."""
    return bool(_NUMERAL_WORD.fullmatch(previous)) and len(word) == 2 and word[0] in _CLASSIFIER


def _cut(words: list[str]) -> list[str]:
    """jieba's words with each glued classifier split off again: 多少|位新|客户 is 多少|位|新|客户."""
    out: list[str] = []
    for word in words:
        if out and _glued(out[-1], word):
            out += [word[0], word[1]]
        else:
            out.append(word)
    return out


def segment(text: str) -> list[str]:
    """The words of ``text`` in order, as written: Latin words and numbers as they are, CJK runs segmented
    with jieba; nothing stemmed or dropped (for reading phrases, not for ranking)."""
    out: list[str] = []
    for match in _WORD_RE.finditer(text):
        run = match.group()
        if _CJK_RE.match(run):
            out.extend(_cut([w for w in _jieba().lcut(run) if w.strip()]))
        else:
            out.append(run)
    return out


@lru_cache(maxsize=1)
def _posseg() -> Any:
    _jieba()
    return importlib.import_module("jieba.posseg")


def segment_tagged(text: str) -> list[tuple[str, str]]:
    """The words of ``text`` with jieba's part-of-speech tags (``n`` noun, ``v`` verb, ``m`` numeral, ...);
    Latin words are tagged ``eng``."""
    out: list[tuple[str, str]] = []
    for match in _WORD_RE.finditer(text):
        run = match.group()
        if _CJK_RE.match(run):
            for pair in _posseg().lcut(run):
                if not pair.word.strip():
                    continue
                if out and _glued(out[-1][0], pair.word):
                    out += [(pair.word[0], "q"), (pair.word[1], pair.flag)]  # 位 is a classifier (q)
                else:
                    out.append((pair.word, pair.flag))
        else:
            out.append((run, "eng"))
    return out


class Analyzer:
    """Turns text into BM25 terms: stemmed English words and jieba-segmented Chinese words."""

    def __init__(
        self, *, stem: bool = True, cjk: Literal["jieba", "chars", "runs"] = "jieba", stopwords: bool = True
    ) -> None:
        self.stem = stem
        self.cjk = cjk
        self.stopwords = stopwords
        self._stem_cache: dict[str, str] = {}

    def _stem_word(self, word: str) -> str:
        cached = self._stem_cache.get(word)
        if cached is None:
            cached = str(_stemmer().stemWord(word)) if self.stem else word
            if len(self._stem_cache) < 200_000:
                self._stem_cache[word] = cached
        return cached

    def terms(self, text: str) -> list[str]:
        """The terms of ``text`` in order (duplicates kept, so BM25 sees term frequencies)."""
        out: list[str] = []
        for match in _WORD_RE.finditer(text):
            run = match.group()
            if _CJK_RE.match(run):
                if self.cjk == "chars":
                    out.extend(run)
                    continue
                if self.cjk == "runs":  # what FTS5's default unicode61 tokenizer does: one token per CJK run
                    out.append(run)
                    continue
                for word in _cut(_jieba().lcut(run)):
                    word = word.strip()
                    if word and not (self.stopwords and word in _ZH_STOP):
                        out.append(word)
                continue
            word = run.lower()
            if self.stopwords and word in _EN_STOP:
                continue
            if len(word) > 64:
                continue
            out.append(self._stem_word(word))
        return out

    def query_terms(self, text: str, *, limit: int = 64) -> list[str]:
        """Distinct terms of a query, in order, at most ``limit``."""
        seen: dict[str, None] = {}
        for term in self.terms(text):
            seen.setdefault(term, None)
            if len(seen) >= limit:
                break
        return list(seen)

    def term_of_word(self, word: str) -> str:
        """The term a single surface word becomes (used to mark query terms in snippets)."""
        return self._stem_word(word.lower()) if not _CJK_RE.match(word) else word


ANALYZERS = ("standard", "unicode61")


@lru_cache(maxsize=8)
def analyzer_named(name: str) -> Analyzer:
    """``standard``: stemming + jieba + stop words; ``unicode61``: what FTS5's default tokenizer would
    index."""
    if name == "unicode61":
        return Analyzer(stem=False, cjk="runs", stopwords=False)
    return Analyzer()
