"""The SQL that applies the row budget (omission.py) inside PostgreSQL, around a checked statement.

The statement's text goes in unchanged, as a subquery; we add only the projection around it, built from the
statement's own result columns, with integer literals for the budget. Each value is measured once per row
(the subqueries are fenced with ``OFFSET 0``, which neither planner flattens through, so a value is neither
computed twice nor its size expression copied into every column), the row's total is summed once, and a
value is replaced by NULL of its own type when the row is over the cap and the value over its share. One
extra last column lists the sizes of the values left out (NULL when none were), so a NULL the statement
returned stays NULL and an omitted value becomes a note. Column names, types and order are the statement's;
rows keep its order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolmesh.servers.sql.omission import RowBudget

__all__ = ["Wrapped", "postgres_wrapped"]

# PostgreSQL types whose values are a few bytes at most: never measured.
_SMALL = frozenset(
    {
        "bool",
        "char",
        "int2",
        "int4",
        "int8",
        "float4",
        "float8",
        "oid",
        "date",
        "time",
        "timetz",
        "timestamp",
        "timestamptz",
        "interval",
        "uuid",
        "money",
        "name",
        "inet",
        "cidr",
        "macaddr",
        "macaddr8",
    }
)
# PostgreSQL types octet_length() reads from the value's header, without converting it to text.
_BYTES = frozenset({"text", "varchar", "bpchar", "bytea"})
# What a decoded array element costs in Python beyond its text (a pointer and an object header).
_PER_ELEMENT = 32


@dataclass(frozen=True, slots=True)
class Wrapped:
    """A statement wrapped to apply ``budget``: its SQL, and how to read one of its rows back."""

    sql: str
    budget: RowBudget
    names: Sequence[str]
    measured: Sequence[int]  # the column of each entry of the sizes array

    def row(self, raw: Sequence[Any]) -> list[Any]:
        """The statement's row from a row of the wrapped one: the extra last column turned into notes."""
        *values, sizes = raw
        if sizes is None:
            return values
        omitted = {self.measured[n]: s for n, s in enumerate(sizes) if s is not None}
        return self.budget.noted(values, omitted, self.names)


def _balanced(op: str, terms: Sequence[str]) -> str:
    """``terms`` joined by ``op`` as a balanced tree (no expression nested as deep as the column count)."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({_balanced(op, terms[:middle])} {op} {_balanced(op, terms[middle:])})"


def _pg_size(column: str, kind: Any) -> str | None:
    """Bytes ``column`` takes on the wire and decoded (roughly), or None for a type of a few bytes."""
    catalog = kind.schema == "pg_catalog"
    if catalog and kind.name in _SMALL:
        return None
    if catalog and kind.name in _BYTES:
        return f"octet_length({column})::int8"
    size = f"octet_length({column}::text)::int8"
    if kind.kind == "array" and kind.name.endswith("[]"):
        size += f" + {_PER_ELEMENT} * coalesce(cardinality({column}), 0)"
    return size


def postgres_wrapped(
    sql: str, names: Sequence[str], types: Sequence[Any], budget: RowBudget
) -> Wrapped | None:
    """``sql`` wrapped to apply ``budget`` (``types``: asyncpg's type of each result column); None when every
    column is of a small type and no value can be big."""
    sizes = [(i, _pg_size(f"q.c{i}", kind)) for i, kind in enumerate(types)]
    measured = [(i, size) for i, size in sizes if size is not None]
    if not measured:
        return None
    over, share = budget.max_bytes, budget.share
    measured_at = {i for i, _ in measured}
    cells = ", ".join(
        f"CASE WHEN z.t > {over} AND z.s{i} > {share} THEN NULL ELSE q.c{i} END"
        if i in measured_at
        else f"q.c{i}"
        for i in range(len(types))
    )
    listed = ", ".join(f"CASE WHEN z.s{i} > {share} THEN z.s{i} END" for i, _ in measured)
    total = _balanced("+", [f"coalesce(s.s{i}, 0)" for i, _ in measured])
    each = ", ".join(f"{size} AS s{i}" for i, size in measured)
    aliases = ", ".join(f"c{i}" for i in range(len(types)))
    text = (
        f"SELECT {cells}, CASE WHEN z.t > {over} THEN ARRAY[{listed}]::int8[] END "  # noqa: S608 - the checked text
        f"FROM ((\n{sql}\n) OFFSET 0) AS q({aliases}) "
        f"CROSS JOIN LATERAL (SELECT s.*, {total} AS t FROM (SELECT {each} OFFSET 0) AS s OFFSET 0) AS z"
    )
    return Wrapped(text, budget, names, [i for i, _ in measured])
