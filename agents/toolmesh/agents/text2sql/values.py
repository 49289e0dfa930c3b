"""Value linking: which column holds the question's literal words ("Germany", "cancelled", "paypal", "vip").

Values a comment enumerates or a sample row shows are matched locally; for the rest, :func:`probe_sql`
writes one read-only query that looks the question's words up (case-insensitively, as phrases of up to
three words) in every text column of the linked tables, and :func:`parse_probe` reads its rows back.
Chinese questions are looked up through the shared lexicon's English renderings ("德国" → germany).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from toolmesh.agents.question import Part, content_terms
from toolmesh.agents.text2sql.frame import ColumnRef, quote_ident, sql_literal
from toolmesh.agents.text2sql.schema import Schema

__all__ = ["ValueHit", "candidates", "local_hits", "parse_probe", "probe_sql"]

_MAX_CANDIDATES = 200
_MAX_COLUMNS = 24
_SKIP = re.compile(r"(?:^|_)(?:id|email|mail|url|hash|password|token)$")


@dataclass(frozen=True, slots=True)
class ValueHit:
    column: ColumnRef
    value: Any
    words: str  # the question's words it matched (lower-case)


def _variants(phrase: str) -> list[str]:
    out = [phrase]
    if phrase.endswith("ies") and len(phrase) > 4:
        out.append(phrase[:-3] + "y")
    elif phrase.endswith("es") and len(phrase) > 4:
        out += [phrase[:-2], phrase[:-1]]
    elif phrase.endswith("s") and len(phrase) > 3:
        out.append(phrase[:-1])
    if " " in phrase:
        out.append(phrase.replace(" ", "_"))
        out.append(phrase.replace(" ", "-"))
    elif phrase.isalpha() and len(phrase) >= 4 and not phrase.endswith("ed"):
        stem = out[-1] if len(out) > 1 else phrase  # "returns" ~ a status 'returned'
        out.append(stem + "d" if stem.endswith("e") else stem + "ed")
        if stem[-1] in "lpt" and stem[-2] in "aeiou" and len(stem) <= 6:
            out.append(stem + stem[-1] + "ed")  # "cancel" ~ 'cancelled', "ship" ~ 'shipped'
    return out


def candidates(part: Part) -> dict[str, str]:
    """Lower-case strings to look up → the question words they came from."""
    words = [w for w in part.words if not w.isdigit()]
    out: dict[str, str] = {}
    for size in (3, 2, 1):
        for i in range(len(words) - size + 1):
            chunk = words[i : i + size]
            if not content_terms(chunk[0]) or not content_terms(chunk[-1]):
                continue  # phrases begin and end with a content word
            phrase = " ".join(chunk)
            for variant in _variants(phrase):
                out.setdefault(variant, phrase)
    for quoted in part.quoted:
        out.setdefault(quoted.lower(), quoted.lower())
    return dict(list(out.items())[:_MAX_CANDIDATES])


def _probe_columns(schema: Schema) -> list[ColumnRef]:
    refs: list[ColumnRef] = []
    order = [t for t in schema.ranked if t in schema.tables] + [
        t for t in schema.tables if t not in schema.ranked
    ]
    for name in order:
        table = schema.tables[name]
        for column in table.columns:
            if column.textual and not column.id_like and not _SKIP.search(column.name):
                refs.append(ColumnRef(table=name, column=column.name))
    return refs[:_MAX_COLUMNS]


def local_hits(part: Part, schema: Schema) -> list[ValueHit]:
    """Matches against enumerated values in comments and against sample rows."""
    wanted = candidates(part)
    hits: list[ValueHit] = []
    for table in schema.tables.values():
        for column in table.columns:
            if not column.textual:
                continue
            for value in [*column.enumeration(), *(v for v in column.samples if isinstance(v, str))]:
                key = value.lower()
                if key in wanted:
                    hits.append(ValueHit(ColumnRef(table=table.name, column=column.name), value, wanted[key]))
    return _unique(hits)


def probe_sql(part: Part, schema: Schema) -> str | None:
    """One query finding the question's words among the linked tables' text values (None: nothing to ask)."""
    wanted = candidates(part)
    columns = _probe_columns(schema)
    if not wanted or not columns:
        return None
    values = ", ".join(sql_literal(w) for w in wanted)
    # Identifiers are quoted and every literal escaped: nothing from the question reaches SQL raw.
    selects = [
        f"SELECT {sql_literal(ref.table)} AS t, {sql_literal(ref.column)} AS c, "  # noqa: S608
        f"{ref.sql(schema.dialect)} AS v "
        f"FROM {quote_ident(ref.table, schema.dialect)} WHERE LOWER({ref.sql(schema.dialect)}) IN ({values}) "
        f"GROUP BY {ref.sql(schema.dialect)}"
        for ref in columns
    ]
    return "SELECT t, c, v FROM (" + " UNION ALL ".join(selects) + ") AS found LIMIT 200"  # noqa: S608


def parse_probe(part: Part, rows: Sequence[Any]) -> list[ValueHit]:
    wanted = candidates(part)
    hits: list[ValueHit] = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) < 3 or not isinstance(row[2], str):
            continue
        key = row[2].lower()
        if key in wanted:
            hits.append(ValueHit(ColumnRef(table=str(row[0]), column=str(row[1])), row[2], wanted[key]))
    return _unique(hits)


def _unique(hits: Iterable[ValueHit]) -> list[ValueHit]:
    seen: dict[tuple[str, str, str], ValueHit] = {}
    for hit in hits:
        seen.setdefault((str(hit.column), str(hit.value), hit.words), hit)
    return list(seen.values())
