"""Symbol lookups over the index: find, definition, references, callers/callees, outline.

All functions are synchronous and run in a worker thread (they use the thread's own read connection).
"""

from __future__ import annotations

import bisect
import difflib
import fnmatch
import logging
import sqlite3
from collections.abc import Iterable
from typing import Any

from toolmesh.protocols.text import analyzer_named
from toolmesh.servers.code.errors import CodeInputError, CodeNotFound
from toolmesh.servers.code.index import Index
from toolmesh.servers.code.models import (
    CallEdge,
    CalleeHit,
    CalleesResult,
    CallersResult,
    DefinitionResult,
    OutlineEntry,
    OutlineResult,
    Reference,
    ReferencesResult,
    SymbolHit,
    SymbolSearchResult,
)

__all__ = [
    "callees",
    "callers",
    "find_references",
    "find_symbol",
    "get_definition",
    "number_lines",
    "outline",
    "resolve_symbol",
    "symbols_by_ids",
]

logger = logging.getLogger(__name__)

_COLUMNS = (
    "s.id, s.name, s.qualname, s.kind, s.language, f.path, s.start_line, s.end_line, s.signature, s.doc"
)
_CANDIDATE_CAP = 3000
_NAME_CAP = 400  # distinct names taken from a substring match
_KIND_WEIGHT = {
    "class": 6.0,
    "interface": 5.5,
    "struct": 5.5,
    "trait": 5.5,
    "enum": 5.0,
    "record": 5.0,
    "type": 4.5,
    "function": 5.0,
    "method": 4.0,
    "constructor": 3.5,
    "module": 4.0,
    "namespace": 3.0,
    "macro": 3.5,
    "constant": 3.0,
    "property": 2.5,
    "field": 2.0,
    "variable": 2.0,
    "union": 4.0,
}
_LANGUAGE_FAMILY = {"javascript": "js", "typescript": "js", "tsx": "js", "c": "c", "cpp": "c"}


def _first_paragraph(doc: str) -> str:
    return doc.split("\n\n", 1)[0].strip()[:300]


def _hit(row: Any, score: float = 0.0, match: str = "exact") -> SymbolHit:
    return SymbolHit(
        id=int(row[0]),
        name=str(row[1]),
        qualname=str(row[2]),
        kind=str(row[3]),
        language=str(row[4]),
        path=str(row[5]),
        line=int(row[6]),
        end_line=int(row[7]),
        signature=str(row[8]),
        doc=_first_paragraph(str(row[9])),
        score=round(score, 3),
        match=match,
    )


def _is_test_path(path: str) -> bool:
    lowered = path.lower()
    return "test" in lowered or "/spec/" in lowered or "fixture" in lowered or "example" in lowered


def _subsequence_score(query: str, name: str) -> float:
    """0..1 fuzzy score: all query characters in order in name, rewarding contiguous runs and early starts."""
    if not query:
        return 0.0
    pos = -1
    runs = 0
    first = -1
    for ch in query:
        nxt = name.find(ch, pos + 1)
        if nxt < 0:
            return 0.0
        if nxt != pos + 1:
            runs += 1
        if first < 0:
            first = nxt
        pos = nxt
    return max(0.05, 1.0 - 0.12 * (runs - 1) - 0.01 * first - 0.005 * (len(name) - len(query)))


def _fuzzy_score(query: str, name: str) -> float:
    """The better of a subsequence match (abbreviations) and an edit similarity (typos)."""
    score = _subsequence_score(query, name)
    matcher = difflib.SequenceMatcher(None, query, name)
    if matcher.real_quick_ratio() >= 0.75 and matcher.quick_ratio() >= 0.75:
        ratio = matcher.ratio()
        if ratio >= 0.75:
            score = max(score, ratio)
    return score


def _filters(kind: str | None, language: str | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if kind:
        kinds = [k.strip().lower() for k in kind.split(",") if k.strip()]
        clauses.append(f"s.kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    if language:
        clauses.append("s.language = ?")
        params.append(language.strip().lower())
    return ("".join(f" AND {c}" for c in clauses), params)


def find_symbol(
    index: Index,
    query: str,
    *,
    kind: str | None = None,
    language: str | None = None,
    path_glob: str | None = None,
    limit: int = 20,
) -> SymbolSearchResult:
    """Exact, qualified, prefix, substring and fuzzy matches, ranked; a query of several words also
    matches the symbols whose docstrings say them."""
    query = query.strip()
    if not query:
        raise CodeInputError(
            "query is empty", hint="Pass a symbol name such as `Inventory` or `Inventory.add`."
        )
    conn = index.reader()
    extra, params = _filters(kind, language)
    scored: dict[int, tuple[float, str, Any]] = {}

    def consider(rows: Iterable[Any], base: float, match: str) -> None:
        for row in rows:
            path = str(row[5])
            if path_glob and not fnmatch.fnmatchcase(path, path_glob):
                continue
            name = str(row[1])
            score = base + _KIND_WEIGHT.get(str(row[3]), 1.0)
            if name == query or str(row[2]) == query:
                score += 10.0
            if _is_test_path(path):
                score -= 4.0
            score -= 0.02 * path.count("/")
            sid = int(row[0])
            if sid not in scored or scored[sid][0] < score:
                scored[sid] = (score, match, row)

    lowered = query.lower()
    is_qualified = "." in query or "::" in query
    if is_qualified:
        qualified = query.replace("::", ".")
        tail = qualified.rsplit(".", 1)[-1]
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id "  # noqa: S608
            f"WHERE s.lname = ?{extra} LIMIT {_CANDIDATE_CAP}",
            [tail.lower(), *params],
        ).fetchall()
        lowered_q = qualified.lower()
        exact = [r for r in rows if str(r[2]) == qualified]
        suffix = [r for r in rows if str(r[2]).endswith("." + qualified)]
        loose = [r for r in rows if str(r[2]).lower().endswith(lowered_q)]
        consider(loose, 80.0, "qualified")
        consider(suffix, 95.0, "qualified")
        consider(exact, 100.0, "exact")
        lowered = tail.lower()
    # For a qualified query, the bare name only ranks below every qualified match.
    name_base, name_label = (50.0, "name") if is_qualified else (90.0, "exact")
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id "  # noqa: S608
        f"WHERE s.lname >= ? AND s.lname < ?{extra} LIMIT {_CANDIDATE_CAP}",
        [lowered, lowered + "\U0010ffff", *params],
    ).fetchall()
    consider([r for r in rows if str(r[1]).lower() == lowered], name_base, name_label)
    consider([r for r in rows if str(r[1]).lower() != lowered], 30.0 if is_qualified else 60.0, "prefix")
    if len(scored) < limit and len(lowered) >= 2:
        names = index.names()
        contained = [n for n in names if lowered in n and not n.startswith(lowered)][:_NAME_CAP]
        consider(_rows_for_names(conn, contained, extra, params), 40.0, "substring")
    if not scored and len(lowered) >= 2:
        # Nothing matched literally: fuzzy over the names sharing the first letter (a contiguous range).
        names = index.names()
        lo = bisect.bisect_left(names, lowered[0])
        hi = bisect.bisect_left(names, chr(ord(lowered[0]) + 1))
        fuzzy = sorted(((_fuzzy_score(lowered, n), n) for n in names[lo:hi]), reverse=True)
        best = [(score, n) for score, n in fuzzy[: limit * 2] if score > 0]
        by_name = {n: score for score, n in best}
        rows = _rows_for_names(conn, list(by_name), extra, params)
        for row in rows:
            consider([row], 20.0 * by_name[str(row[1]).lower()], "fuzzy")
    if len(scored) < limit:
        for row, share in _described(conn, query, extra, params):
            consider([row], 10.0 + 20.0 * share, "described")
    ranked = sorted(scored.values(), key=lambda item: (-item[0], str(item[2][5]), int(item[2][6])))
    hits = [_hit(row, score, match) for score, match, row in ranked[:limit]]
    return SymbolSearchResult(query=query, hits=hits, truncated=len(ranked) > limit)


def _described(
    conn: sqlite3.Connection, query: str, extra: str, params: list[object]
) -> list[tuple[Any, float]]:
    """Symbols whose name and docstring hold most of the words of a query written in words ("put reserved
    units back into stock"), with the share held; nothing for a query of one word (a name)."""
    analyzer = analyzer_named("standard")
    terms = list(dict.fromkeys(analyzer.terms(query)))
    if " " not in query.strip() or len(terms) < 2 or not all(t.isascii() for t in terms):
        return []
    likes = " OR ".join("s.doc LIKE ?" for _ in terms)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id "  # noqa: S608
        f"WHERE s.doc != '' AND ({likes}){extra} LIMIT {_CANDIDATE_CAP}",
        [*(f"%{t}%" for t in terms), *params],
    ).fetchall()
    out: list[tuple[Any, float]] = []
    for row in rows:
        held = set(analyzer.terms(f"{str(row[1]).replace('_', ' ')} {row[9]}"))
        share = sum(1 for t in terms if t in held) / len(terms)
        if share >= 0.5:
            out.append((row, share))
    return out


def _rows_for_names(
    conn: sqlite3.Connection, names: list[str], extra: str, params: list[object]
) -> list[Any]:
    if not names:
        return []
    return conn.execute(
        f"SELECT {_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id "  # noqa: S608
        f"WHERE s.lname IN ({','.join('?' * len(names))}){extra} LIMIT {_CANDIDATE_CAP}",
        [*names, *params],
    ).fetchall()


def symbols_by_ids(index: Index, ids: list[int]) -> list[SymbolHit]:
    if not ids:
        return []
    rows = (
        index.reader()
        .execute(
            f"SELECT {_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id "  # noqa: S608
            f"WHERE s.id IN ({','.join('?' * len(ids))})",
            ids,
        )
        .fetchall()
    )
    by_id = {int(r[0]): _hit(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def resolve_symbol(
    index: Index, symbol: str | None, symbol_id: int | None
) -> tuple[SymbolHit, list[SymbolHit]]:
    """The best definition for a name (or an id), and the other candidates."""
    if symbol_id is not None:
        found = symbols_by_ids(index, [symbol_id])
        if not found:
            raise CodeNotFound(
                f"no symbol with id {symbol_id}",
                hint="Ids change when a file is re-indexed; call find_symbol again.",
            )
        return found[0], []
    if not symbol or not symbol.strip():
        raise CodeInputError("pass a symbol name or an id", hint="For example symbol='Inventory.add'.")
    result = find_symbol(index, symbol, limit=11)
    exact = [h for h in result.hits if h.match in ("exact", "qualified")]
    if not exact:
        suggestions = ", ".join(h.qualname for h in result.hits[:5])
        raise CodeNotFound(
            f"no definition named {symbol!r}",
            hint=f"Did you mean: {suggestions}?" if suggestions else "Try find_symbol with part of the name.",
        )
    return exact[0], exact[1:]


def number_lines(lines: list[str], first: int) -> str:
    width = len(str(first + len(lines) - 1))
    return "\n".join(f"{first + i:>{width}}  {line}" for i, line in enumerate(lines))


def get_definition(
    index: Index, symbol: str | None, symbol_id: int | None, *, max_lines: int, context: int = 0
) -> DefinitionResult:
    hit, others = resolve_symbol(index, symbol, symbol_id)
    data, _rel = index.sandbox.read_bytes(hit.path)
    lines = data.decode("utf-8", "replace").splitlines()
    start = max(1, hit.line - context)
    end = min(len(lines), hit.end_line + context)
    truncated = end - start + 1 > max_lines
    if truncated:
        end = start + max_lines - 1
    return DefinitionResult(
        symbol=hit,
        source=number_lines(lines[start - 1 : end], start),
        start_line=start,
        end_line=end,
        truncated=truncated,
        others=others,
    )


def _line_texts(index: Index, wanted: dict[str, set[int]]) -> dict[tuple[str, int], str]:
    texts: dict[tuple[str, int], str] = {}
    for path, numbers in wanted.items():
        try:
            data, _ = index.sandbox.read_bytes(path)
        except Exception:  # the file changed or became unreadable since indexing: show no text
            logger.debug("cannot read %s for reference text", path, exc_info=True)
            continue
        lines = data.decode("utf-8", "replace").splitlines()
        for number in numbers:
            if 0 < number <= len(lines):
                texts[(path, number)] = lines[number - 1].strip()[:300]
    return texts


def _name_of(symbol: str) -> str:
    name = symbol.strip().replace("::", ".").rsplit(".", 1)[-1]
    if not name:
        raise CodeInputError("symbol is empty", hint="Pass a name such as `validate_amount`.")
    return name


def find_references(
    index: Index, symbol: str, *, path_glob: str | None = None, limit: int = 200
) -> ReferencesResult:
    """Every occurrence of the symbol's name as an identifier (name-based; definitions flagged)."""
    name = _name_of(symbol)
    conn = index.reader()
    # Occurrences in files of the defining language family only (a Python `add` is not a JavaScript `add`).
    families = {
        _LANGUAGE_FAMILY.get(str(r[0]), str(r[0]))
        for r in conn.execute("SELECT DISTINCT language FROM symbols WHERE name = ?", (name,))
    }
    rows: list[tuple[str, int, int]] = []
    for ref_path, language, positions in conn.execute(
        "SELECT f.path, f.language, r.positions FROM refs r JOIN files f ON f.id = r.file_id "
        "WHERE r.name = ? ORDER BY f.path",
        (name,),
    ):
        if families and _LANGUAGE_FAMILY.get(str(language), str(language)) not in families:
            continue
        for place in str(positions).split():
            ref_line, _, ref_col = place.partition(":")
            rows.append((str(ref_path), int(ref_line), int(ref_col)))
    rows.sort()
    if path_glob:
        rows = [r for r in rows if fnmatch.fnmatchcase(str(r[0]), path_glob)]
    if not rows and not conn.execute("SELECT 1 FROM symbols WHERE name = ? LIMIT 1", (name,)).fetchone():
        raise CodeNotFound(
            f"no identifier named {name!r} in the index", hint="Check the spelling with find_symbol."
        )
    definitions = {
        (str(p), int(line))
        for p, line in conn.execute(
            "SELECT f.path, s.start_line FROM symbols s JOIN files f ON f.id = s.file_id WHERE s.name = ?",
            (name,),
        )
    }
    shown = rows[:limit]
    wanted: dict[str, set[int]] = {}
    for path, line, _col in shown:
        wanted.setdefault(str(path), set()).add(int(line))
    texts = _line_texts(index, wanted)
    refs = [
        Reference(
            path=str(path),
            line=int(line),
            column=int(col) + 1,
            text=texts.get((str(path), int(line)), ""),
            is_definition=(str(path), int(line)) in definitions
            or _starts_definition(texts.get((str(path), int(line)), ""), name),
        )
        for path, line, col in shown
    ]
    return ReferencesResult(
        symbol=symbol, name=name, references=refs, total=len(rows), truncated=len(rows) > limit
    )


def _starts_definition(text: str, name: str) -> bool:
    return any(text.startswith(f"{kw} {name}") for kw in ("def", "class", "function", "func", "fn"))


def callers(index: Index, symbol: str, *, limit: int = 100) -> CallersResult:
    name = _name_of(symbol)
    conn = index.reader()
    families: set[str] = set()
    targets = conn.execute("SELECT DISTINCT language FROM symbols WHERE name = ?", (name,)).fetchall()
    families = {_LANGUAGE_FAMILY.get(str(t[0]), str(t[0])) for t in targets}
    rows = conn.execute(
        "SELECT f.path, c.line, s.qualname, s.kind, f.language FROM calls c JOIN files f ON f.id = c.file_id "
        "LEFT JOIN symbols s ON s.id = c.caller_id WHERE c.name = ? ORDER BY f.path, c.line",
        (name,),
    ).fetchall()
    if families:
        rows = [r for r in rows if _LANGUAGE_FAMILY.get(str(r[4]), str(r[4])) in families]
    shown = rows[:limit]
    wanted: dict[str, set[int]] = {}
    for r in shown:
        wanted.setdefault(str(r[0]), set()).add(int(r[1]))
    texts = _line_texts(index, wanted)
    edges = [
        CallEdge(
            caller=None if r[2] is None else str(r[2]),
            caller_kind=None if r[3] is None else str(r[3]),
            path=str(r[0]),
            line=int(r[1]),
            text=texts.get((str(r[0]), int(r[1])), ""),
        )
        for r in shown
    ]
    if not rows and not targets:
        raise CodeNotFound(
            f"no definition or call named {name!r}", hint="Check the spelling with find_symbol."
        )
    return CallersResult(symbol=symbol, callers=edges, truncated=len(rows) > limit)


def callees(index: Index, symbol: str | None, symbol_id: int | None, *, limit: int = 100) -> CalleesResult:
    hit, _others = resolve_symbol(index, symbol, symbol_id)
    conn = index.reader()
    family = _LANGUAGE_FAMILY.get(hit.language, hit.language)
    rows = conn.execute(
        "SELECT c.name, MIN(c.line) FROM calls c WHERE c.caller_id = ? OR c.caller_id IN "
        "(SELECT id FROM symbols WHERE parent_id = ? AND kind NOT IN ('function','method','constructor')) "
        "GROUP BY c.name ORDER BY MIN(c.line)",
        (hit.id, hit.id),
    ).fetchall()
    out: list[CalleeHit] = []
    for callee_name, line in rows[:limit]:
        defs = conn.execute(
            f"SELECT {_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id "  # noqa: S608
            "WHERE s.name = ? AND s.kind IN "
            "('function','method','constructor','class','struct','macro','record') "
            "ORDER BY (f.path = ?) DESC, f.path LIMIT 20",
            (callee_name, hit.path),
        ).fetchall()
        same = [d for d in defs if _LANGUAGE_FAMILY.get(str(d[4]), str(d[4])) == family]
        out.append(CalleeHit(name=str(callee_name), line=int(line), definitions=[_hit(d) for d in same[:3]]))
    return CalleesResult(symbol=hit, callees=out, truncated=len(rows) > limit)


def outline(index: Index, path: str, *, limit: int = 1000) -> OutlineResult:
    _real, rel = index.sandbox.resolve(path)
    conn = index.reader()
    row = conn.execute("SELECT id, language, status FROM files WHERE path = ?", (rel,)).fetchone()
    if row is None:
        raise CodeNotFound(
            f"{path!r} is not in the index",
            hint="It may not exist, be ignored (.gitignore, excludes), be too large, or be a secret.",
        )
    rows = conn.execute(
        "SELECT id, name, qualname, kind, start_line, end_line, parent_id, signature FROM symbols "
        "WHERE file_id = ? ORDER BY start_line, start_col",
        (int(row[0]),),
    ).fetchall()
    depth: dict[int, int] = {}
    entries: list[OutlineEntry] = []
    for sid, name, qualname, kind, start, end, parent, signature in rows:
        d = depth.get(int(parent), -1) + 1 if parent is not None else 0
        depth[int(sid)] = d
        entries.append(
            OutlineEntry(
                id=int(sid),
                name=str(name),
                qualname=str(qualname),
                kind=str(kind),
                line=int(start),
                end_line=int(end),
                depth=d,
                signature=str(signature),
            )
        )
    return OutlineResult(
        path=rel,
        language=None if row[1] is None else str(row[1]),
        symbols=entries[:limit],
        truncated=len(entries) > limit,
    )
