"""Link question words to a schema's tables, columns and values.

A question term meets a table or column through its lexicon (the analysed words of its name count more
than those of its comment), through a related business word ("revenue" → amount, "sold" → quantity), or —
for Chinese — through the shared lexicon's English rendering and through shared characters with a Chinese
comment ("订单数" meets "订单"). Terms that name many columns ("order" in a shop) weigh less (IDF).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from toolmesh.agents.question import content_terms, terms_of
from toolmesh.agents.text2sql.schema import Column, Schema, Table
from toolmesh.protocols.lexicon import EN_RELATED, ZH_EN
from toolmesh.protocols.text import contains_cjk

__all__ = ["Linker", "Match"]

_NAME_WEIGHT = 1.0  # the head of a name: "price" in unit_price
_MODIFIER_WEIGHT = 0.5  # its other words: "unit" in unit_price
_COMMENT_WEIGHT = 0.6  # a comment's first words ("Units ordered") say what the column is
_MENTION_WEIGHT = 0.45  # later words mention it in passing ("Total including VAT")
_RELATED_WEIGHT = 0.55


@dataclass(frozen=True, slots=True)
class Match:
    table: str
    column: str | None
    score: float
    terms: frozenset[str]


def _related(term_text: str) -> list[tuple[str, float]]:
    """(analysed term, weight) for ``term_text`` and the words related to it."""
    out: list[tuple[str, float]] = [(t, 1.0) for t in terms_of(term_text)]
    word = term_text.lower()
    for other in EN_RELATED.get(word, ()):
        out += [(t, _RELATED_WEIGHT) for t in content_terms(other)]
    if contains_cjk(term_text):
        for key, english in ZH_EN.items():
            if key in term_text or (len(term_text) >= 2 and term_text in key):
                for phrase in english:
                    out += [(t, 0.85) for t in content_terms(phrase)]
                    for other in EN_RELATED.get(phrase, ()):
                        out += [(t, 0.85 * _RELATED_WEIGHT) for t in content_terms(other)]
    return out


def _cjk_overlap(term: str, lexicon: Iterable[str]) -> bool:
    if len(term) < 2 or not contains_cjk(term):
        return False
    return any(contains_cjk(w) and (term in w or w in term) and min(len(w), len(term)) >= 2 for w in lexicon)


class Linker:
    """Scores of schema elements for question words."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._heads: dict[tuple[str, str | None], frozenset[str]] = {}
        self._names: dict[tuple[str, str | None], frozenset[str]] = {}
        self._all: dict[tuple[str, str | None], frozenset[str]] = {}
        self._leads: dict[tuple[str, str | None], frozenset[str]] = {}
        for table in schema.tables.values():
            self._index((table.name, None), table.name, table.lexicon, table.comment)
            for column in table.columns:
                self._index((table.name, column.name), column.name, column.lexicon, column.comment)
        df: dict[str, int] = {}
        for words in self._all.values():
            for w in words:
                df[w] = df.get(w, 0) + 1
        n = max(1, len(self._all))
        self._idf = {w: math.log(1 + n / c) for w, c in df.items()}
        self._max_idf = math.log(1 + n)

    def _index(self, key: tuple[str, str | None], name: str, lexicon: frozenset[str], comment: str) -> None:
        words = terms_of(name)
        self._names[key] = frozenset(words)
        self._heads[key] = frozenset(words[-1:])
        self._all[key] = lexicon
        self._leads[key] = frozenset(terms_of(comment)[:2])

    def _weight(self, key: tuple[str, str | None], term: str) -> float:
        if term in self._heads[key]:
            return _NAME_WEIGHT
        if term in self._names[key]:
            return _MODIFIER_WEIGHT
        if term in self._leads[key] or _cjk_overlap(term, self._all[key]):
            return _COMMENT_WEIGHT
        if term in self._all[key]:
            return _MENTION_WEIGHT
        return 0.0

    def score(self, words: Iterable[str], key: tuple[str, str | None]) -> tuple[float, frozenset[str]]:
        """How well ``words`` (surface words or phrases) name the element ``key``, and which matched."""
        total = 0.0
        matched: set[str] = set()
        for word in words:
            best = 0.0
            for term, weight in _related(word):
                w = self._weight(key, term)
                if w:
                    idf = self._idf.get(term, self._max_idf) / self._max_idf
                    best = max(best, w * weight * (0.5 + 0.5 * idf))
            if best:
                total += best
                matched.add(word)
        return total, frozenset(matched)

    def tables(self, words: Iterable[str]) -> list[Match]:
        """Tables named by ``words``, best first (their own name and comment only)."""
        words = list(words)
        out = []
        for table in self.schema.tables.values():
            score, matched = self.score(words, (table.name, None))
            if score > 0:
                out.append(Match(table.name, None, score, matched))
        return sorted(out, key=lambda m: (-m.score, self._rank(m.table)))

    def columns(
        self,
        words: Iterable[str],
        *,
        where: Callable[[Table, Column], bool] = lambda t, c: True,
        near: Iterable[str] = (),
        context: Iterable[str] | None = None,
    ) -> list[Match]:
        """Columns named by ``words`` that pass ``where``, best first. A column of a table that ``context``
        (default: the same words) names gets a bonus; remaining ties go to tables in ``near``."""
        words = list(words)
        around = list(context) if context is not None else words
        near_set = list(near)
        out = []
        for table in self.schema.tables.values():
            for column in table.columns:
                if not where(table, column):
                    continue
                score, matched = self.score(words, (table.name, column.name))
                if score > 0:
                    # A column of a table the words also name ("customer country") is the likelier one.
                    # ... counting only the words that are not already about the column itself
                    others = [w for w in around if w not in matched]
                    table_score, _ = self.score(others, (table.name, None))
                    out.append(Match(table.name, column.name, score + 0.25 * table_score, matched))

        def order(m: Match) -> tuple[float, int, int]:
            nearness = near_set.index(m.table) if m.table in near_set else len(near_set)
            return (-round(m.score, 6), nearness, self._rank(m.table))

        return sorted(out, key=order)

    def _rank(self, table: str) -> int:
        ranked = self.schema.ranked
        return ranked.index(table) if table in ranked else len(ranked)


def words_of(phrase: str | None) -> list[str]:
    """The words of a phrase for linking (Chinese runs kept whole; jieba terms are added by the linker)."""
    if not phrase:
        return []
    return [w for w in re.findall(r"[^\W_]+", phrase) if w]
