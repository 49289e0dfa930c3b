"""Multi-path routing: how well each source's answer to a probe covers the question, and the choice.

The planner probes every source at once (document search, table linking, symbol search) and scores what
comes back, not the question's wording: the share of the part's content terms a document hit contains,
whether a symbol the part names exists, how much of the part the SQL translation accounts for. The best
score wins; two close strong scores of different kinds make a specific clarifying question.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from toolmesh.agents.question import ASKS_FOR_CODE, Part, asked_kind, code_words, coverage, focus_terms

__all__ = [
    "code_score",
    "docs_hits",
    "docs_score",
    "pick_route",
    "symbol_hits",
]

ROUTE_LABELS = {
    "docs": "the documents",
    "sql": "the database",
    "code": "the code",
    "schema": "the table's description",
}
_ACCEPT = 0.5
_NUMBERISH = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|hundred)\b|[一二三四五六七八九十百]",
    re.I,
)
_CLOSE = 0.1


def _clean(text: str) -> str:
    return text.replace("**", "")


def docs_hits(structured: Any) -> list[Mapping[str, Any]]:
    """The hits of a document-search result (a list of objects with a snippet or text), best first."""
    if not isinstance(structured, Mapping):
        return []
    hits = structured.get("hits") or structured.get("results") or []
    return [h for h in hits if isinstance(h, Mapping) and (h.get("snippet") or h.get("text"))]


def hit_text(hit: Mapping[str, Any]) -> str:
    citation = hit.get("citation") if isinstance(hit.get("citation"), Mapping) else {}
    headings = " ".join(str(h) for h in (citation or {}).get("heading_path") or [])
    return _clean(f"{headings} {hit.get('snippet') or hit.get('text') or ''}")


def docs_score(part: Part, structured: Any) -> float:
    """How well the best of the top document hits covers the part (0..1)."""
    terms = tuple(t for t in focus_terms(part) if not t.isdigit())
    computes = part.ask in {"count", "sum", "avg", "min", "max", "top"}
    hits = docs_hits(structured)
    # Terms no hit contains at all are words the documents do not have: they weigh half (a question's
    # own phrasing, "hang on to", "for a friend") against the terms the documents do have.
    pool = " ".join(hit_text(h) for h in hits[:5])
    present = [t for t in terms if coverage([t], pool) > 0]
    weight = len(present) + 0.5 * (len(terms) - len(present))
    best = 0.0
    for rank, hit in enumerate(hits[:3]):
        text = hit_text(hit)
        found = coverage(present, text) * len(present)
        score = (found / weight if weight else 0.0) * (1.0 - 0.05 * rank)
        if computes and not _NUMBERISH.search(text):
            score *= 0.6  # "how many ...?" is answered by a passage only if it states a number
        if part.quoted and all(q.lower() in text.lower() for q in part.quoted):
            score = max(score, 0.9)
        best = max(best, score)
    return round(best, 3)


def symbol_hits(structured: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(structured, Mapping):
        for key in ("hits", "symbols", "results"):
            for item in structured.get(key) or []:
                if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                    yield item


def _named(identifier: str, hit: Mapping[str, Any]) -> bool:
    names = {str(hit.get("name")), str(hit.get("qualname"))}
    return identifier in names or (identifier.split(".")[-1] == hit.get("name") and "." in identifier)


def code_score(part: Part, structured: Any) -> tuple[float, str | None]:
    """How well a symbol search answers the part, and the symbol to look at (its qualified name)."""
    hits = list(symbol_hits(structured))
    for identifier in part.identifiers:
        for hit in hits:
            if _named(identifier, hit):
                return 1.0, str(hit.get("qualname") or hit.get("name"))
    kind = asked_kind(part.text)
    if kind:  # "which function …": not a field or a constant of the same words
        hits = [h for h in hits if str(h.get("kind") or "") in kind[1]] or hits
    codeish = any(t in code_words() for t in part.terms)
    plain = {w.lower() for w in part.words}
    languages = {str(h.get("language") or "").lower() for h in hits} & plain
    if languages:  # "in the Python code": that language's symbols
        hits = [h for h in hits if str(h.get("language") or "").lower() in languages] or hits
    names = [str(hit.get("name") or "").lower() for hit in hits]
    qualnames: dict[str, set[str]] = {}
    for hit, name in zip(hits, names, strict=True):
        qualnames.setdefault(name, set()).add(str(hit.get("qualname") or name))
    words = [w.lower() for w in part.words]
    joined = {f"{a}_{b}" for a, b in itertools.pairwise(words)}  # "the VAT rate" → vat_rate
    for wanted in (joined, plain):  # "what does anonymise do?": plain words naming exactly one symbol
        for hit, name in zip(hits, names, strict=True):
            if name in wanted and len(qualnames[name]) == 1:
                return (0.95 if codeish else 0.6), str(hit.get("qualname") or hit.get("name"))
    if not hits:
        return 0.0, None
    terms = tuple(t for t in part.terms if t not in code_words())
    best, symbol, best_named = 0.0, None, 0.0
    boost = 0.3 if ASKS_FOR_CODE.search(part.text) else 0.0  # "which function …", "in the code"
    for hit in hits[:5]:
        name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(hit.get("qualname") or hit.get("name"))).replace(
            "_", " "
        )
        text = f"{name} {hit.get('doc') or ''}"
        score = coverage(terms, text) * (0.9 if codeish else 0.55)
        if part.identifiers:
            score *= 0.7  # it names a symbol, and this is not it
        # as well covered: the symbol whose name says it ("refunds": refund_order, not a docstring's mention)
        named = coverage(terms, name)
        if (score, named) > (best, best_named):
            best, symbol, best_named = score, str(hit.get("qualname") or hit.get("name")), named
    return round(best + boost if best >= 0.3 else best, 3), symbol


def pick_route(part: Part, scores: Mapping[str, float]) -> tuple[str | None, list[str]]:
    """The route whose evidence is best (None when none is good enough) and, when two strong routes are
    too close to call, both of them (for a clarifying question)."""
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < _ACCEPT:
        return None, []
    best, score = ranked[0]
    if len(ranked) > 1:
        other, second = ranked[1]
        computes = part.ask in {"count", "sum", "avg", "min", "max", "top"} or part.analytic.is_analytic
        computes = computes or (part.analytic.listing and part.ask == "list")  # which rows: the data's
        if {best, other} == {"docs", "sql"} and computes and scores.get("sql", 0.0) >= 0.8:
            return "sql", []  # a total or a count is computed from the data, not read from a passage
        if (
            second >= 0.6
            and score - second < _CLOSE
            and {best, other} not in ({"code", "docs"}, {"schema", "sql"})
        ):
            return best, [best, other]
    return best, []
