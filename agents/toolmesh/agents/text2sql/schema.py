"""The linked schema as the translator sees it: tables, columns, keys and sample values, read from the
structured output of a SQL server's describe and linking tools (by shape, not by server).

Each table and column carries a small lexicon — the analysed words of its name and comment — that the
linker matches question words against; foreign keys give the join graph (:meth:`Schema.path`).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolmesh.agents.question import terms_of

__all__ = ["Column", "ForeignKey", "Schema", "Table", "schema_from_outputs"]

_NUMERIC = re.compile(r"int|numeric|decimal|real|float|double|money|number", re.IGNORECASE)
_DATE_TYPE = re.compile(r"date|time", re.IGNORECASE)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_ENUM = re.compile(r"([a-z_]+(?:,\s*[a-z_]+)+,?\s+or\s+[a-z_]+)")
_LABEL_NAMES = ("name", "title", "label", "first_name", "last_name", "full_name", "email", "sku", "code")


@dataclass(slots=True)
class Column:
    name: str
    type: str = ""
    comment: str = ""
    primary_key: bool = False
    samples: list[Any] = field(default_factory=list)
    lexicon: frozenset[str] = frozenset()

    @property
    def numeric(self) -> bool:
        if not self.type.strip():  # a view's computed column: judge by its values
            values = [v for v in self.samples if v is not None]
            return bool(values) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            )
        return bool(_NUMERIC.search(self.type)) and not self.date_like

    @property
    def date_like(self) -> bool:
        if _DATE_TYPE.search(self.type) and not _NUMERIC.search(self.type):
            return True
        if re.search(r"(?:_at|_on|date|_time)$", self.name):
            return True
        return bool(self.samples) and all(isinstance(v, str) and _ISO.match(v) for v in self.samples)

    @property
    def id_like(self) -> bool:
        return self.primary_key or self.name.endswith("_id") or self.name == "id"

    @property
    def flag_like(self) -> bool:
        """A 0/1 column ("discontinued", "is_active")."""
        values = {v for v in self.samples if v is not None}
        return bool(
            re.match(r"(?:is_|has_)", self.name) or re.search(r"\b1 when\b|\btrue when\b", self.comment)
        ) or (bool(values) and values <= {0, 1} and not self.id_like and "int" in self.type.lower())

    @property
    def textual(self) -> bool:
        return not self.numeric and not self.date_like and not self.flag_like

    def enumeration(self) -> list[str]:
        """Values a comment lists ("placed, shipped, delivered, cancelled or returned")."""
        match = _ENUM.search(self.comment)
        if not match:
            return []
        return [v.strip() for v in re.split(r",\s*|\s+or\s+", match.group(1)) if v.strip()]


@dataclass(frozen=True, slots=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(slots=True)
class Table:
    name: str
    comment: str = ""
    columns: list[Column] = field(default_factory=list)
    kind: str = "table"
    rows: int | None = None
    lexicon: frozenset[str] = frozenset()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def primary_key(self) -> list[Column]:
        return [c for c in self.columns if c.primary_key]

    def labels(self) -> list[Column]:
        """Columns that name a row to a person (name, title, first and last name, e-mail), best first."""
        found = [c for name in _LABEL_NAMES for c in self.columns if c.name == name]
        found += [c for c in self.columns if c.name.endswith("_name") and c not in found]
        names = [c for c in found if c.name.endswith("name") or c.name in {"title", "label"}]
        return names or found[:1] or self.primary_key[:1]


@dataclass(slots=True)
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    dialect: str = "sqlite"
    connection: str | None = None
    ranked: list[str] = field(default_factory=list)  # the linker's order, best first

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def edges(self, name: str) -> Iterable[tuple[str, ForeignKey, bool]]:
        """(neighbour, key, many_to_one) for every foreign key touching ``name``."""
        for key in self.foreign_keys:
            if key.table == name and key.ref_table in self.tables and key.ref_table != name:
                yield key.ref_table, key, True
            elif key.ref_table == name and key.table in self.tables and key.table != name:
                yield key.table, key, False

    def path(self, start: str, goal: str) -> list[tuple[str, ForeignKey, bool]] | None:
        """The shortest foreign-key path from ``start`` to ``goal`` (hops: table, key, many-to-one)."""
        if start == goal:
            return []
        seen = {start}
        queue: deque[tuple[str, list[tuple[str, ForeignKey, bool]]]] = deque([(start, [])])
        while queue:
            here, hops = queue.popleft()
            # Many-to-one hops first: joining towards parents never multiplies rows.
            for nxt, key, up in sorted(self.edges(here), key=lambda e: (not e[2], e[0])):
                if nxt in seen:
                    continue
                route = [*hops, (nxt, key, up)]
                if nxt == goal:
                    return route
                seen.add(nxt)
                queue.append((nxt, route))
        return None


def _lexicon(*texts: str) -> frozenset[str]:
    words: set[str] = set()
    for text in texts:
        words.update(terms_of(text))
    return frozenset(words)


def _table_from(data: Mapping[str, Any]) -> tuple[Table, list[ForeignKey]] | None:
    name = data.get("name")
    columns = data.get("columns")
    if not isinstance(name, str) or not isinstance(columns, list):
        return None
    sample_columns = [str(c) for c in data.get("sample_columns") or []]
    sample_rows = [r for r in data.get("sample_rows") or [] if isinstance(r, list)]
    table = Table(
        name=name,
        comment=str(data.get("comment") or ""),
        kind=str(data.get("kind") or "table"),
        rows=data.get("estimated_rows") if isinstance(data.get("estimated_rows"), int) else None,
    )
    for raw in columns:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            continue
        col_name = str(raw["name"])
        index = sample_columns.index(col_name) if col_name in sample_columns else None
        samples = [r[index] for r in sample_rows if index is not None and index < len(r)]
        column = Column(
            name=col_name,
            type=str(raw.get("type") or raw.get("data_type") or ""),
            comment=str(raw.get("comment") or raw.get("description") or ""),
            primary_key=bool(raw.get("primary_key") or raw.get("pk")),
            samples=samples,
        )
        column.lexicon = _lexicon(col_name, column.comment)
        table.columns.append(column)
    table.lexicon = _lexicon(name, table.comment)
    keys: list[ForeignKey] = []
    for fk in data.get("foreign_keys") or []:
        if isinstance(fk, Mapping) and isinstance(fk.get("ref_table"), str):
            keys.append(
                ForeignKey(
                    table=name,
                    columns=tuple(str(c) for c in fk.get("columns") or []),
                    ref_table=str(fk["ref_table"]),
                    ref_columns=tuple(str(c) for c in fk.get("ref_columns") or []),
                )
            )
    return table, keys


def schema_from_outputs(
    described: Sequence[Any], *, linked: Any = None, dialect: str | None = None
) -> Schema:
    """A schema from describe-table outputs (and, when given, the linking tool's ranking)."""
    schema = Schema()
    for output in described:
        if not isinstance(output, Mapping):
            continue
        parsed = _table_from(output)
        if parsed is None:
            continue
        table, keys = parsed
        schema.tables[table.name] = table
        schema.foreign_keys.extend(keys)
        if isinstance(output.get("connection"), str):
            schema.connection = str(output["connection"])
    if isinstance(linked, Mapping):
        schema.ranked = [
            str(t["name"]) for t in linked.get("tables") or [] if isinstance(t, Mapping) and "name" in t
        ]
    if dialect:
        schema.dialect = dialect
    return schema
