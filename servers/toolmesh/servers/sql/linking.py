"""Schema linking for text-to-SQL: rank the tables and columns a question needs, and the joins between them.

Each table is a small document with weighted fields — its name, its column names, its comment and its columns'
comments, and sampled values of its text columns. Identifiers are split on case and underscores and lightly
stemmed; Chinese text is matched on character bigrams (so ``客户`` in a question meets ``客户`` in a comment).
A table scores the IDF-weighted sum, over the question's terms, of the strongest field each term hits, plus a
bonus when its whole name appears in the question. Foreign keys then spread a share of each table's score to
its neighbours and lift tables that bridge two relevant ones; join paths are shortest foreign-key paths.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from toolmesh.protocols.lexicon import ZH_EN
from toolmesh.servers.sql.models import JoinPath, LinkedColumn, LinkedTable, TableDescription

__all__ = ["SchemaIndex", "question_terms", "split_identifier", "terms"]

_WORD = re.compile(r"[A-Za-z]+|\d+|[\u3400-\u9fff\uf900-\ufaff]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "and",
        "or",
        "not",
        "no",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "many",
        "much",
        "all",
        "any",
        "each",
        "every",
        "some",
        "me",
        "my",
        "our",
        "we",
        "you",
        "your",
        "it",
        "its",
        "their",
        "them",
        "they",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "than",
        "then",
        "as",
        "if",
        "into",
        "about",
        "over",
        "under",
        "list",
        "show",
        "give",
        "find",
        "return",
        "tell",
        "get",
        "name",
        "names",
        "number",
        "count",
        "total",
        "per",
        "also",
        "only",
        "most",
        "least",
        "more",
        "less",
        "top",
        "first",
        "last",
        "ones",
        "one",
        "please",
        "whats",
        "both",
        "between",
        "among",
        "same",
        "different",
        "other",
        "others",
        "id",
        "ids",
    ]
)
_CJK_STOP = frozenset(
    {"多少", "哪些", "什么", "哪个", "所有", "每个", "列出", "显示", "查询", "一下", "是否", "的是"}
)
_FIELD_WEIGHTS = {"table": 3.0, "table_comment": 1.6, "column": 1.4, "column_comment": 0.9, "value": 2.2}


def _stem(word: str) -> str:
    if len(word) <= 3:
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x")):
        if word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def split_identifier(name: str) -> list[str]:
    """``orderItems`` / ``order_items`` / ``OrderID`` → lower-case words."""
    words: list[str] = []
    for chunk in re.split(r"[^0-9A-Za-z\u3400-\u9fff\uf900-\ufaff]+", name):
        words += [w.lower() for w in _CAMEL.split(chunk) if w]
    return words


def terms(text: str) -> list[str]:
    """Index terms of free text or an identifier: stemmed English words and Chinese character bigrams."""
    out: list[str] = []
    for match in _WORD.finditer(text):
        token = match.group(0)
        if _CJK.match(token):
            if len(token) == 1:
                out.append(token)
            out += [token[i : i + 2] for i in range(len(token) - 1)]
            continue
        for word in split_identifier(token):
            out.append(_stem(word))
    return out


def question_terms(question: str) -> list[str]:
    """The question's terms without stop words (order kept, duplicates removed).

    Chinese text also contributes the English words of the glossary entries it contains, so a Chinese
    question links to a schema that has no Chinese comments.
    """
    seen: dict[str, None] = {}
    english = [
        word
        for run in _CJK_RUN.findall(question)
        for key, words in ZH_EN.items()
        if key in run
        for phrase in words
        for word in phrase.replace("_", " ").split()
    ]
    for term in [*terms(question), *(_stem(w) for w in english)]:
        if (
            term in _STOP
            or term in _CJK_STOP
            or (len(term) == 1 and not _CJK.match(term) and not term.isdigit())
        ):
            continue
        seen.setdefault(term, None)
    return list(seen)


@dataclass
class _Doc:
    table: TableDescription
    key: str
    fields: dict[str, set[str]] = field(default_factory=dict)
    column_terms: dict[str, set[str]] = field(default_factory=dict)
    value_hits: dict[str, set[str]] = field(default_factory=dict)
    phrase: str = ""


def _key(schema: str, name: str) -> str:
    return f"{schema}.{name}"


class SchemaIndex:
    """An index over a schema's tables (and optionally sampled column values) that ranks them for a
    question.
    """

    def __init__(
        self,
        tables: Sequence[TableDescription],
        values: Mapping[tuple[str, str, str], Iterable[str]] | None = None,
    ) -> None:
        self.docs: list[_Doc] = []
        self._by_name: dict[str, list[_Doc]] = defaultdict(list)
        for table in tables:
            doc = _Doc(table=table, key=_key(table.schema_name, table.name))
            doc.fields["table"] = set(terms(table.name))
            doc.fields["table_comment"] = set(terms(table.comment or ""))
            doc.fields["column"] = set()
            doc.fields["column_comment"] = set()
            doc.fields["value"] = set()
            doc.phrase = " ".join(split_identifier(table.name))
            for column in table.columns:
                names = set(terms(column.name))
                comments = set(terms(column.comment or ""))
                doc.fields["column"] |= names
                doc.fields["column_comment"] |= comments
                doc.column_terms[column.name] = names | comments
            self.docs.append(doc)
            self._by_name[table.name.lower()].append(doc)
        for (schema, table_name, column_name), column_values in (values or {}).items():
            for doc in self._by_name.get(table_name.lower(), []):
                if doc.table.schema_name != schema:
                    continue
                for value in column_values:
                    value_terms = frozenset(terms(value))
                    if 0 < len(value_terms) <= 4:
                        doc.value_hits.setdefault(column_name, set()).add(" ".join(sorted(value_terms)))
                        doc.fields["value"] |= value_terms
        self._df: dict[str, int] = defaultdict(int)
        for doc in self.docs:
            for term in set().union(*doc.fields.values()):
                self._df[term] += 1
        self._edges = self._fk_edges()

    def _fk_edges(self) -> dict[str, list[tuple[str, str]]]:
        """table key → [(neighbour key, join condition)] over foreign keys, both directions."""
        edges: dict[str, list[tuple[str, str]]] = defaultdict(list)
        keys = {doc.key for doc in self.docs}
        for doc in self.docs:
            for fk in doc.table.foreign_keys:
                target = _key(fk.ref_schema, fk.ref_table)
                if target not in keys:
                    continue
                condition = " AND ".join(
                    f"{doc.table.name}.{a} = {fk.ref_table}.{b}"
                    for a, b in zip(fk.columns, fk.ref_columns, strict=False)
                )
                if target != doc.key:
                    edges[doc.key].append((target, condition))
                    edges[target].append((doc.key, condition))
        return edges

    def _idf(self, term: str) -> float:
        n = len(self.docs)
        return math.log(1 + (n - self._df.get(term, 0) + 0.5) / (self._df.get(term, 0) + 0.5))

    def rank(self, question: str, limit: int = 5) -> tuple[list[LinkedTable], list[JoinPath]]:
        """The ``limit`` most relevant tables for ``question`` and the join paths between them."""
        query = question_terms(question)
        spaced = " " + " ".join(split_identifier(question)) + " "
        stemmed_question = " " + " ".join(_stem(w) for w in split_identifier(question)) + " "
        base: dict[str, float] = {}
        reasons: dict[str, list[str]] = defaultdict(list)
        for doc in self.docs:
            score = 0.0
            for term in query:
                weight = max(
                    (_FIELD_WEIGHTS[name] for name, bag in doc.fields.items() if term in bag), default=0.0
                )
                if weight:
                    score += weight * self._idf(term)
                    if doc.fields["table"] and term in doc.fields["table"]:
                        reasons[doc.key].append(f"name matches '{term}'")
                    elif term in doc.fields["value"]:
                        reasons[doc.key].append(f"a value matches '{term}'")
            phrase = doc.phrase
            if phrase and (
                f" {phrase} " in spaced or f" {' '.join(map(_stem, phrase.split()))} " in stemmed_question
            ):
                score += 2.0 * max(1, len(phrase.split()))
                reasons[doc.key].append("table named in the question")
            base[doc.key] = score
        final = dict(base)
        for key, neighbours in self._edges.items():
            for other, _ in neighbours:
                final[key] += 0.15 * base.get(other, 0.0)
        # Bridges: a table joining two relevant tables is needed for the join even when nothing names it.
        for key, neighbours in self._edges.items():
            linked = sorted({base[o] for o, _ in neighbours if base.get(o, 0.0) > 0}, reverse=True)
            if len(linked) >= 2:
                final[key] += 0.5 * linked[1]
                reasons[key].append("joins two relevant tables")
        ordered = sorted(self.docs, key=lambda d: (-final[d.key], d.table.name))
        chosen = [d for d in ordered[:limit] if final[d.key] > 0] or ordered[: min(limit, len(ordered))]
        tables = [
            LinkedTable(
                schema_name=d.table.schema_name,
                name=d.table.name,
                score=round(final[d.key], 4),
                columns=self._columns(d, query),
                reasons=list(dict.fromkeys(reasons[d.key]))[:5],
            )
            for d in chosen
        ]
        relevant = [d.key for d in chosen if final[d.key] > 0]
        return tables, self._paths(relevant)

    def _columns(self, doc: _Doc, query: list[str]) -> list[LinkedColumn]:
        out: list[LinkedColumn] = []
        wanted = set(query)
        for name, bag in doc.column_terms.items():
            hits = sorted(wanted & bag)
            value_hit = [v for v in doc.value_hits.get(name, set()) if set(v.split()) <= wanted]
            if not hits and not value_hit:
                continue
            score = sum(self._idf(t) for t in hits) + (2.0 if value_hit else 0.0)
            reason = (
                f"matches {', '.join(repr(h) for h in hits)}" if hits else f"holds the value '{value_hit[0]}'"
            )
            out.append(LinkedColumn(name=name, score=round(score, 4), reason=reason))
        out.sort(key=lambda c: -c.score)
        return out[:8]

    def _paths(self, keys: list[str]) -> list[JoinPath]:
        """Shortest foreign-key paths from the best table to each other relevant table (at most 4 hops)."""
        if len(keys) < 2:
            return []
        names = {doc.key: doc.table.name for doc in self.docs}
        start = keys[0]
        previous: dict[str, tuple[str, str] | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for other, condition in self._edges.get(node, []):
                if other not in previous:
                    previous[other] = (node, condition)
                    queue.append(other)
        paths: list[JoinPath] = []
        for target in keys[1:]:
            if target not in previous:
                continue
            hops: list[str] = [names[target]]
            conditions: list[str] = []
            node = target
            while (step := previous[node]) is not None:
                node, condition = step
                hops.append(names[node])
                conditions.append(condition)
            if len(conditions) <= 4:
                paths.append(JoinPath(tables=hops[::-1], on=conditions[::-1]))
        return paths
