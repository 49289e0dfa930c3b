"""The resolved query — what is counted or measured, grouped, filtered and ranked — and its SQL.

A :class:`Frame` is what the translator decides; :func:`render` writes it as one SELECT in the
connection's dialect, joining along foreign keys from the base table (many-to-one joins, which never
multiply rows) and turning filters on tables reached one-to-many into ``EXISTS`` subqueries, so a sum is
never inflated by a join. Frames are kept in the conversation memory: a follow-up ("and in 2023?") edits
the previous frame instead of starting over.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolmesh.agents.text2sql.schema import ForeignKey, Schema

__all__ = ["ColumnRef", "Filter", "Frame", "named_rows", "quote_ident", "render"]

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_MAX_LIST = 50


class ColumnRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    table: str
    column: str

    def sql(self, dialect: str) -> str:
        return f"{quote_ident(self.table, dialect)}.{quote_ident(self.column, dialect)}"

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


class Filter(BaseModel):
    column: ColumnRef
    op: Literal["=", "!=", ">", ">=", "<", "<=", "in"]
    value: Any  # a list for "in"
    words: str = Field(default="", description="The question's words this filter came from.")
    kind: Literal["value", "date", "id", "compare"] = "value"


class Frame(BaseModel):
    base: str
    aggregate: Literal["count", "sum", "avg", "min", "max"] | None = None
    measure: ColumnRef | None = None
    measure_factor: ColumnRef | None = Field(
        default=None,
        description="Each row's measure times this column: an order line's quantity × unit price.",
    )
    count_of: str | None = Field(default=None, description="Count rows of this table (distinct keys).")
    distinct: ColumnRef | None = None
    group: list[ColumnRef] = Field(default_factory=list)
    group_rows: str | None = Field(
        default=None, description="Grouping names rows of this table (its key too)."
    )
    time_group: tuple[ColumnRef, Literal["year", "quarter", "month", "day"]] | None = None
    filters: list[Filter] = Field(default_factory=list)
    having: tuple[Literal[">", ">=", "<", "<=", "="], float] | None = None
    absent: list[str] = Field(default_factory=list, description="Tables with no row for the base row.")
    select: list[ColumnRef] = Field(default_factory=list)
    order: Literal["desc", "asc"] | None = None
    order_by: ColumnRef | None = None
    limit: int | None = None
    notes: list[str] = Field(default_factory=list)

    def columns(self) -> list[ColumnRef]:
        refs = [*self.group, *self.select, *(f.column for f in self.filters)]
        refs += [
            r for r in (self.measure, self.measure_factor, self.distinct, self.order_by) if r is not None
        ]
        if self.time_group is not None:
            refs.append(self.time_group[0])
        return refs

    def tables(self) -> set[str]:
        found = {r.table for r in self.columns()} | {self.base}
        if self.count_of:
            found.add(self.count_of)
        return found


def quote_ident(name: str, dialect: str) -> str:
    """``name`` as an SQL identifier (quoted unless it is a plain lower-case word)."""
    if _PLAIN.match(name):
        return name
    quote = "`" if dialect == "mysql" else '"'
    return quote + name.replace(quote, quote * 2) + quote


def sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _on(key: ForeignKey, dialect: str) -> str:
    pairs = zip(key.columns, key.ref_columns, strict=False)
    return " AND ".join(
        f"{ColumnRef(table=key.table, column=a).sql(dialect)} = "
        f"{ColumnRef(table=key.ref_table, column=b).sql(dialect)}"
        for a, b in pairs
    )


def _condition(f: Filter, dialect: str) -> str:
    if f.op == "in":
        return f"{f.column.sql(dialect)} IN ({', '.join(sql_literal(v) for v in f.value)})"
    return f"{f.column.sql(dialect)} {f.op} {sql_literal(f.value)}"


def _quarter_bucket(ref: ColumnRef, schema: Schema) -> str:
    """'2024-Q3' for a date (ISO text or a date type) in the connection's dialect."""
    d = schema.dialect
    col = ref.sql(d)
    if d == "mysql":
        return f"CONCAT(SUBSTR({col}, 1, 4), '-Q', (CAST(SUBSTR({col}, 6, 2) AS UNSIGNED) + 2) DIV 3)"
    column = schema.tables[ref.table].column(ref.column)
    if d != "sqlite" and column is not None and re.search(r"date|time", column.type, re.IGNORECASE):
        return f"TO_CHAR({col}, 'YYYY-\"Q\"Q')"
    return f"SUBSTR({col}, 1, 4) || '-Q' || ((CAST(SUBSTR({col}, 6, 2) AS INTEGER) + 2) / 3)"


def _time_bucket(ref: ColumnRef, unit: str, schema: Schema) -> str:
    if unit == "quarter":
        return _quarter_bucket(ref, schema)
    column = schema.tables[ref.table].column(ref.column)
    width = {"year": 4, "month": 7, "day": 10}[unit]
    textual = column is None or not re.search(r"date|time", column.type, re.IGNORECASE)
    if textual or schema.dialect == "sqlite":
        return f"SUBSTR({ref.sql(schema.dialect)}, 1, {width})"
    if schema.dialect == "mysql":
        fmt = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}[unit]
        return f"DATE_FORMAT({ref.sql(schema.dialect)}, '{fmt}')"
    fmt = {"year": "YYYY", "month": "YYYY-MM", "day": "YYYY-MM-DD"}[unit]
    return f"TO_CHAR({ref.sql(schema.dialect)}, '{fmt}')"


def render(frame: Frame, schema: Schema) -> str:
    """One SELECT for ``frame`` (raises ValueError when a needed table cannot be joined)."""
    d = schema.dialect
    joins: list[str] = []
    joined = {frame.base}
    exists: dict[str, list[str]] = {}
    fanned = False
    needed = sorted(frame.tables() - {frame.base})
    filter_only = {
        t
        for t in needed
        if all(r.table != t for r in [*frame.group, *frame.select])
        and (frame.measure is None or frame.measure.table != t)
        and (frame.time_group is None or frame.time_group[0].table != t)
        and frame.count_of != t
    }
    for table in needed:
        path = schema.path(frame.base, table)
        if path is None:
            raise ValueError(f"no foreign-key path joins {frame.base} to {table}")
        one_to_many = any(not up for _, _, up in path)
        if one_to_many and table in filter_only and frame.aggregate in {"sum", "avg", "min", "max"}:
            exists[table] = [_on(key, d) for _, key, _ in path]
            continue
        for hop, key, up in path:
            if hop in joined:
                continue
            joins.append(f"JOIN {quote_ident(hop, d)} ON {_on(key, d)}")
            joined.add(hop)
            fanned = fanned or not up
    where = [_condition(f, d) for f in frame.filters if f.column.table not in exists]
    for table, ons in exists.items():
        path = schema.path(frame.base, table) or []
        inner = [hop for hop, _, _ in path]
        conds = ons + [_condition(f, d) for f in frame.filters if f.column.table == table]
        tables = ", ".join(quote_ident(t, d) for t in inner)
        where.append(f"EXISTS (SELECT 1 FROM {tables} WHERE {' AND '.join(conds)})")  # noqa: S608 - quoted
    base = schema.tables[frame.base]
    pk = base.primary_key
    for child in frame.absent:  # "customers who never ordered": no row of the child points at the base row
        child_keys = [k for k in schema.foreign_keys if k.table == child and k.ref_table == frame.base]
        if child_keys:
            where.append(f"NOT EXISTS (SELECT 1 FROM {quote_ident(child, d)} WHERE {_on(child_keys[0], d)})")  # noqa: S608
    select: list[str] = []
    group_sql: list[str] = []
    for ref in frame.group:
        select.append(ref.sql(d))
        group_sql.append(ref.sql(d))
    if frame.time_group is not None:
        ref, unit = frame.time_group
        bucket = _time_bucket(ref, unit, schema)
        select.append(f"{bucket} AS {unit}")
        group_sql.append(bucket)
    value_alias = None
    if frame.aggregate is not None:
        if frame.aggregate == "count":
            if frame.distinct is not None:
                expr = f"COUNT(DISTINCT {frame.distinct.sql(d)})"
                value_alias = f"distinct_{frame.distinct.column}"
            else:
                counted = schema.tables[frame.count_of or frame.base]
                keys = counted.primary_key
                if (fanned or frame.count_of not in (None, frame.base)) and len(keys) == 1:
                    expr = f"COUNT(DISTINCT {ColumnRef(table=counted.name, column=keys[0].name).sql(d)})"
                else:
                    expr = "COUNT(*)"
                value_alias = f"{counted.name}_count"
        else:
            assert frame.measure is not None
            value = frame.measure.sql(d)
            value_alias = f"{frame.aggregate}_{frame.measure.column}"
            if frame.measure_factor is not None:
                value = f"{frame.measure_factor.sql(d)} * {value}"
                value_alias = f"{frame.aggregate}_{frame.measure_factor.column}_x_{frame.measure.column}"
            inner_expr = f"{frame.aggregate.upper()}({value})"
            expr = f"ROUND({inner_expr}, 2)" if frame.aggregate in {"sum", "avg"} else inner_expr
        select.append(f"{expr} AS {value_alias}")
    else:
        for ref in frame.select:
            if ref.sql(d) not in select:
                select.append(ref.sql(d))
        if frame.measure is not None and frame.measure.sql(d) not in select:
            select.append(frame.measure.sql(d))
    if not select:
        select = [f"{quote_ident(frame.base, d)}.*"]
    if group_sql and frame.group_rows in schema.tables:
        for pk_column in schema.tables[frame.group_rows].primary_key:
            pk_sql = ColumnRef(table=frame.group_rows, column=pk_column.name).sql(d)
            if pk_sql not in group_sql:
                group_sql.append(pk_sql)
    sql = f"SELECT {', '.join(select)} FROM {quote_ident(frame.base, d)}"  # noqa: S608 - quoted identifiers
    if joins:
        sql += " " + " ".join(joins)
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group_sql:
        sql += " GROUP BY " + ", ".join(group_sql)
    if frame.having is not None and value_alias:
        sql += f" HAVING {select[-1].rsplit(' AS ', 1)[0]} {frame.having[0]} {sql_literal(frame.having[1])}"
    order = frame.order
    if frame.time_group is not None and order is None:
        sql += f" ORDER BY {frame.time_group[1]}"
    elif value_alias and (group_sql or order):
        sql += f" ORDER BY {value_alias} {(order or 'desc').upper()}"
        if group_sql:
            sql += ", " + group_sql[0]
    elif frame.order_by is not None:
        sql += f" ORDER BY {frame.order_by.sql(d)} {(order or 'desc').upper()}"
        if pk:
            sql += f", {ColumnRef(table=frame.base, column=pk[0].name).sql(d)}"
    limit = frame.limit
    if limit is None and frame.aggregate is None:
        limit = _MAX_LIST
    if limit is not None and (group_sql or frame.aggregate is None):
        sql += f" LIMIT {int(limit)}"
    return sql


def named_rows(frame: Frame, schema: Schema, words: str) -> tuple[str, list[str]] | None:
    """A query listing the rows that the frame's filters on one table's name columns pick (``words``: the
    question's text, to see whether it names one thing), with what tells them apart; None when it does not
    name one row by its labels ("the Smart Lamp", "Chloe Perlman's e-mail")."""
    by_table: dict[str, list[Filter]] = {}
    for f in frame.filters:
        table = schema.tables.get(f.column.table)
        if (
            table is not None
            and f.kind == "value"
            and f.op == "="
            and any(c.name == f.column.column for c in table.labels())
        ):
            by_table.setdefault(table.name, []).append(f)
    text = words.lower()
    for name, filters in by_table.items():
        singular = len(filters) >= 2 or any(
            re.search(rf"\b(?:the|of)\s+{re.escape(f.words)}\b|\b{re.escape(f.words)}'s\b", text)
            for f in filters
        )
        if not singular:
            continue
        table = schema.tables[name]
        keys = [c.name for c in table.primary_key][:1]
        shown = keys + [c.name for c in table.labels()]
        shown += [c.name for c in table.columns if c.textual and c.name not in shown and not c.id_like][:3]
        d = schema.dialect
        narrowing = [f for f in frame.filters if f.column.table == name and f.kind in {"value", "id"}]
        where = " AND ".join(_condition(f, d) for f in narrowing)
        cols = ", ".join(quote_ident(c, d) for c in shown)
        return f"SELECT {cols} FROM {quote_ident(name, d)} WHERE {where} LIMIT 6", shown  # noqa: S608
    return None
