"""Evidence: what the step results actually show — docs citations, rows, code spans — numbered for answers.

:func:`extract_evidence` reads the structured output of each successful step, whatever server produced it,
by shape: a hit with a ``citation`` is a docs citation; ``columns`` + ``rows`` is a table of rows; anything
with a ``path`` and a line is a code span. Steps that return only text give one text item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from toolmesh.agents.executor.results import StepResult

__all__ = ["Evidence", "extract_evidence", "is_empty_output"]

EvidenceKind = Literal["citation", "rows", "code", "text"]
_PER_STEP = 8
# The list that holds a result's findings, when a result has one (others are notes, paths, echoes).
_RESULT_LISTS = frozenset(
    {
        "hits",
        "rows",
        "results",
        "matches",
        "references",
        "symbols",
        "items",
        "callers",
        "callees",
        "tables",
        "entries",
        "documents",
        "chunks",
        "files",
    }
)
_TEXT_CAP = 1200
_SQL = re.compile(r"^\s*(?:select|with|values)\b", re.IGNORECASE)


class Evidence(BaseModel):
    """One piece of evidence, numbered ``n`` (answers cite it as ``[n]``)."""

    n: int
    kind: EvidenceKind
    step_id: str
    source: str = Field(description="Where it comes from: path:lines, a connection/table, a server.tool.")
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


def _line_span(item: Mapping[str, Any]) -> tuple[int, int] | None:
    for start_key, end_key in (("line_start", "line_end"), ("start_line", "end_line"), ("line", "end_line")):
        start = item.get(start_key)
        if isinstance(start, int | float) and not isinstance(start, bool):
            end = item.get(end_key)
            end_n = int(end) if isinstance(end, int | float) and not isinstance(end, bool) else int(start)
            return int(start), max(int(start), end_n)
    return None


def _column_names(columns: Sequence[Any]) -> list[str]:
    return [str(c.get("name")) if isinstance(c, Mapping) else str(c) for c in columns]


def _rows_text(columns: list[str], rows: Sequence[Any], limit: int = 25) -> str:
    lines = [" | ".join(columns)]
    for row in list(rows)[:limit]:
        cells = row if isinstance(row, list | tuple) else [row]
        lines.append(
            " | ".join(json.dumps(c, ensure_ascii=False) if not isinstance(c, str) else c for c in cells)
        )
    if len(rows) > limit:
        lines.append(f"... ({len(rows)} rows)")
    return "\n".join(lines)


def _walk(value: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if depth > 6:
        return
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value[:200]:
            yield from _walk(item, depth + 1)


def _from_structured(result: StepResult) -> Iterator[tuple[EvidenceKind, str, str, dict[str, Any]]]:
    where = f"{result.server_name or result.server or ''}.{result.tool or result.skill or ''}".strip(".")
    seen_paths: set[int] = set()
    for item in _walk(result.structured):
        if id(item) in seen_paths:
            continue
        citation = item.get("citation")
        if isinstance(citation, Mapping) and isinstance(citation.get("path"), str):
            seen_paths.add(id(citation))
            span = _line_span(citation)
            source = citation["path"] + (f":{span[0]}-{span[1]}" if span else "")
            text = str(item.get("snippet") or item.get("text") or "").replace("**", "")
            headings = [str(h) for h in citation.get("heading_path") or [] if isinstance(h, str)]
            data = {"path": citation["path"], "lines": span, "headings": headings}
            yield "citation", source, text[:_TEXT_CAP], data
            continue
        columns, rows = item.get("columns"), item.get("rows")
        if isinstance(columns, list) and isinstance(rows, list):
            names = _column_names(columns)
            table = str(item.get("connection") or where)
            data = {"columns": names, "rows": rows[:50], "row_count": item.get("row_count", len(rows))}
            sql = next((v for v in result.arguments.values() if isinstance(v, str) and _SQL.match(v)), None)
            if sql:
                data["sql"] = sql
            yield (
                "rows",
                f"{table} ({len(rows)} row{'s' if len(rows) != 1 else ''})",
                _rows_text(names, rows),
                data,
            )
            continue
        path = item.get("path")
        span = _line_span(item)
        if isinstance(path, str) and span is not None:
            text = str(
                item.get("signature")
                or item.get("text")
                or item.get("source")
                or item.get("snippet")
                or item.get("raw")
                or item.get("qualname")
                or ""
            )
            label = item.get("qualname") or item.get("name") or item.get("caller") or item.get("function")
            data = {"path": path, "lines": span, **({"symbol": label} if label else {})}
            if isinstance(item.get("kind"), str):
                data["symbol_kind"] = item["kind"]
            yield "code", f"{path}:{span[0]}-{span[1]}", text[:_TEXT_CAP], data


def extract_evidence(results: Sequence[StepResult]) -> list[Evidence]:
    """Numbered evidence from every successful step (at most a few items per step)."""
    out: list[Evidence] = []
    for result in results:
        if result.status != "ok":
            continue
        found = 0
        for kind, source, text, data in _from_structured(result):
            if found >= _PER_STEP:
                break
            out.append(
                Evidence(
                    n=len(out) + 1, kind=kind, step_id=result.step_id, source=source, text=text, data=data
                )
            )
            found += 1
        if not found and result.text.strip() and not is_empty_output(result):
            where = f"{result.server_name or result.skill or ''}.{result.tool or 'answer'}".strip(".")
            out.append(
                Evidence(
                    n=len(out) + 1,
                    kind="text",
                    step_id=result.step_id,
                    source=where,
                    text=result.text[:_TEXT_CAP],
                )
            )
    return out


def is_empty_output(result: StepResult) -> bool:
    """True when a successful step returned nothing useful (no text and only empty lists/objects)."""
    if result.status != "ok":
        return False
    value = result.structured
    if value is None:
        return not result.text.strip()
    if isinstance(value, Mapping):
        primary = [v for k, v in value.items() if k in _RESULT_LISTS and isinstance(v, list)]
        if primary:
            return all(not v for v in primary)
        # Strings echo the request (query, symbol); what counts is lists and nested objects.
        lists = [v for v in value.values() if isinstance(v, list)]
        objects = [v for v in value.values() if isinstance(v, Mapping) and v]
        if lists and all(not v for v in lists) and not objects:
            return True
        return not value
    if isinstance(value, list):
        return not value
    return False
