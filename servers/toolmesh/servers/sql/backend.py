"""What every database backend offers, and the pieces they share: value conversion and result capping."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

from toolmesh.servers.sql.errors import SqlNotFound
from toolmesh.servers.sql.guard import Dialect, Scalar
from toolmesh.servers.sql.models import TableDescription, TableSummary

__all__ = ["MAX_BATCH", "Backend", "Capped", "Params", "RawResult", "UnknownName", "to_json_value"]

Params = Sequence[Scalar] | Mapping[str, Scalar] | None
_MAX_CELL_CHARS = 10_000


class UnknownName(SqlNotFound):
    """The database named a column or table that does not exist; the connection adds the closest names."""

    def __init__(self, kind: Literal["column", "table"], name: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


_PLAIN = frozenset({int, bool, type(None)})


_PLAIN_TYPES = frozenset({int, str, float, type(None)})


def _plain_size(batch: Sequence[Sequence[Any]]) -> int | None:
    """Approximate JSON size of a batch whose cells are all ints, short strings, finite floats or NULLs;
    None when some cell needs converting (then rows go one by one)."""
    cells = list(itertools.chain.from_iterable(batch))
    types = set(map(type, cells))
    if not types <= _PLAIN_TYPES:
        return None
    strings = [c for c in cells if type(c) is str]
    if max(map(len, strings), default=0) > _MAX_CELL_CHARS:
        return None
    if float in types and not all(c - c == 0 for c in cells if type(c) is float):
        return None
    ints = [c for c in cells if type(c) is int]
    floats = sum(1 for c in cells if type(c) is float)
    nulls = len(cells) - len(strings) - len(ints) - floats
    # like len(repr(row)) summed: quotes and separators per string, digits per int, ~7 per float
    return (
        sum(map(len, strings))
        + 4 * len(strings)
        + sum(map(len, map(str, ints)))
        + 2 * len(ints)
        + 9 * floats
        + 6 * nulls
        + 2 * len(batch)
    )


def _convert(row: Sequence[Any]) -> list[JsonValue]:
    """``row`` as JSON-safe values; common cells (ints, short strings, finite floats, NULL) pass as is."""
    out: list[Any] = list(row)
    for index, value in enumerate(out):
        kind = type(value)
        if value is None or kind is int or (kind is str and len(value) <= _MAX_CELL_CHARS):
            continue
        if kind is float and value - value == 0:  # finite (inf - inf and nan - nan are nan)
            continue
        out[index] = to_json_value(value)
    return out


def to_json_value(value: Any) -> JsonValue:
    """A JSON-safe rendering of a driver value (decimals stay exact, as strings, when a float would round)."""
    cls = type(value)
    if cls in _PLAIN:
        return value  # type: ignore[no-any-return]
    if cls is str:
        return value if len(value) <= _MAX_CELL_CHARS else value[:_MAX_CELL_CHARS] + "…"  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return to_json_value(str(value))
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        shown = raw[:64].hex()
        return f"\\x{shown}" + (f"… ({len(raw)} bytes)" if len(raw) > 64 else "")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    return str(value)


def _raw_size(row: Sequence[Any]) -> int:
    """What the driver's row holds in memory, roughly: text and bytes by length, anything else ~8 bytes."""
    return sum(len(c) if isinstance(c, str | bytes | bytearray) else 8 for c in row) + 16


# Rows fetched per round trip, at most: enough to amortise the round trips of big results.
MAX_BATCH = 1000


@dataclass
class Capped:
    """Collects converted rows until the row or byte cap; ``reason`` says which cap stopped it.

    ``batch()`` says how many rows to fetch next so that the rows in flight stay within the byte cap: it
    starts at one row and doubles while the widest row seen so far (as the driver holds it, before cells
    are shortened) fits that many times in the room left; after a row wider than the room, rows come one at
    a time.
    """

    max_rows: int
    max_bytes: int
    rows: list[list[JsonValue]] = field(default_factory=list)
    size: int = 0
    reason: Literal["max_rows", "max_bytes"] | None = None
    widest: int = 0
    _next: int = 1

    def batch(self) -> int:
        """Rows to fetch next (the row cap plus one, so the fetch tells whether more rows exist)."""
        room = max(self.max_bytes - self.size, 0)
        fits = room // self.widest if self.widest else MAX_BATCH
        count = max(1, min(self._next, fits, MAX_BATCH, self.max_rows - len(self.rows) + 1))
        self._next = min(self._next * 2, MAX_BATCH)
        return count

    def add(self, row: Sequence[Any]) -> bool:
        """Add one row; False when the result is full (the row was not added)."""
        if len(self.rows) >= self.max_rows:
            self.reason = "max_rows"
            return False
        self.widest = max(self.widest, _raw_size(row))
        converted = _convert(row)
        size = len(repr(converted)) + 1  # close to the JSON size, at a fraction of the cost
        if self.size + size > self.max_bytes:
            self.reason = "max_bytes"
            return False
        self.rows.append(converted)
        self.size += size
        return True

    def add_many(self, batch: Sequence[Sequence[Any]]) -> bool:
        """Add a batch of rows; False when the result filled up (``reason`` is set).

        A batch of plain cells (ints, short strings, finite floats, NULLs) that fits under both caps is taken
        whole, without per-row work; anything else goes row by row.
        """
        room = self.max_rows - len(self.rows)
        size = _plain_size(batch) if 0 < len(batch) <= room else None
        if size is not None and self.size + size <= self.max_bytes:
            self.rows.extend(map(list, batch))
            self.size += size
            # every cell is short here: the average row, doubled, stands in for the widest
            self.widest = max(self.widest, 2 * size // len(batch))
            return True
        return all(self.add(row) for row in batch)


@dataclass
class RawResult:
    columns: list[tuple[str, str]]
    rows: list[list[JsonValue]]
    truncated: Literal["max_rows", "max_bytes"] | None = None


class Backend(ABC):
    """One database behind one named connection: a pool, read-only queries, writes when enabled, the
    catalog.
    """

    dialect: Dialect
    # What the connection found when it opened and the caller should know (privileged accounts).
    warnings: tuple[str, ...] = ()

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def query(
        self, sql: str, params: Params, *, max_rows: int, max_bytes: int, time_limit: float
    ) -> RawResult:
        """Run one already-checked read statement in a read-only transaction."""

    @abstractmethod
    async def write(self, sql: str, params: Params, *, time_limit: float) -> int:
        """Run one already-checked write statement in its own transaction; the affected row count."""

    @abstractmethod
    async def explain(self, sql: str, params: Params, *, analyze: bool, time_limit: float) -> str: ...

    @abstractmethod
    async def tables(self) -> list[TableSummary]: ...

    @abstractmethod
    async def describe(self, connection: str, table: TableSummary) -> TableDescription:
        """The table's columns, keys, indexes and comment (no sample rows)."""

    @abstractmethod
    async def referenced_by(self, table: TableSummary) -> list[str]:
        """``schema.table`` of every table with a foreign key to ``table``."""

    @abstractmethod
    def quote(self, identifier: str) -> str:
        """``identifier`` quoted for this dialect (only ever called with names read from the catalog)."""

    def qualified(self, table: TableSummary) -> str:
        return f"{self.quote(table.schema_name)}.{self.quote(table.name)}"
