"""Compact text renderings of results for the text part of tool results (the structured part carries the
data).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import JsonValue

from toolmesh.servers.sql.models import QueryResult, TableDescription

__all__ = ["TEXT_ROWS", "cell", "describe_text", "result_text", "table_text"]

_CELL = 60
# Rows shown in the text rendering of a result; a model cannot read more usefully, and the structured
# content carries every row.
TEXT_ROWS = 500


def cell(value: JsonValue) -> str:
    """One value as table text: NULL for None, newlines and pipes escaped, long text shortened."""
    if value is None:
        return "NULL"
    if type(value) is int or type(value) is float:
        return str(value)
    if type(value) is str and len(value) <= _CELL and not any(c in value for c in "\\\n|"):
        return value
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\|")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def table_text(headers: Sequence[str], rows: Sequence[Sequence[JsonValue]]) -> str:
    """A pipe table with a header rule."""
    lines = [" | ".join(headers), " | ".join("---" for _ in headers)]
    lines += [" | ".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines)


def result_text(result: QueryResult) -> str:
    """The rows as a pipe table (the first TEXT_ROWS of them; the structured content always has all)."""
    if not result.columns:
        return f"ok ({result.connection}); the statement returned no columns."
    body = table_text([f"{c.name} ({c.type})" for c in result.columns], result.rows[:TEXT_ROWS])
    if result.row_count > TEXT_ROWS:
        body += f"\n… {result.row_count - TEXT_ROWS} more row(s) in the structured result"
    tail = f"{result.row_count} row(s)"
    if result.truncated:
        tail += f"; truncated at the {'row' if result.truncated_reason == 'max_rows' else 'byte'} cap"
        tail += " (aggregate, filter or add LIMIT/OFFSET to see the rest)"
    return f"{body}\n({tail}, {result.elapsed_ms:.1f} ms)"


def describe_text(table: TableDescription) -> str:
    head = f"{table.kind} {table.schema_name}.{table.name}"
    if table.estimated_rows is not None:
        head += f" (~{table.estimated_rows} rows)"
    lines = [head + (f": {table.comment}" if table.comment else "")]
    for column in table.columns:
        flags = [column.type, "NULL" if column.nullable else "NOT NULL"]
        if column.primary_key:
            flags.append("PK")
        if column.default is not None:
            flags.append(f"DEFAULT {column.default}")
        note = f"  -- {column.comment}" if column.comment else ""
        lines.append(f"  {column.name} {' '.join(flags)}{note}")
    for fk in table.foreign_keys:
        lines.append(
            f"  FK ({', '.join(fk.columns)}) -> {fk.ref_schema}.{fk.ref_table}({', '.join(fk.ref_columns)})"
        )
    if table.referenced_by:
        lines.append(f"  referenced by: {', '.join(table.referenced_by)}")
    for index in table.indexes:
        lines.append(f"  {'UNIQUE ' if index.unique else ''}INDEX {index.name} ({', '.join(index.columns)})")
    if table.sample_columns:
        lines.append("sample rows:")
        lines.append(table_text(table.sample_columns, table.sample_rows))
    return "\n".join(lines)
