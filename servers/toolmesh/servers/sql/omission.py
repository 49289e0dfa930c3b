"""Values omitted from a row that is over the byte cap: the rule, and what the caller sees.

A single value is as big as the database makes it (up to 1 GB on PostgreSQL), and a driver holds a whole row
in memory, twice or more, before any cap can look at it. PostgreSQL and MariaDB apply one rule before the row
reaches our process: when the values of a row add up to more than the byte cap, each value bigger than the
cap's share per column (``max_bytes // columns``) is left out, and the cell says so. A row within the cap
comes back exactly as before; a row over it keeps at most ``max_bytes`` of data (its columns times their
share). PostgreSQL applies the rule in SQL around the checked statement (omission_sql.py), MariaDB on the
wire as it reads the row (mysql_rows.py). SQLite does not: its values live in our process whatever SQL wraps
them (see docs/sql.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["OMITTED_PREFIX", "RowBudget", "note"]

OMITTED_PREFIX = "[omitted: "


@dataclass(frozen=True, slots=True)
class RowBudget:
    """The rule for one result: ``max_bytes`` per row, ``share`` per value once a row is over it."""

    max_bytes: int
    columns: int

    @property
    def share(self) -> int:
        return max(self.max_bytes // max(self.columns, 1), 1)

    def over(self, sizes: Sequence[int | None]) -> list[int]:
        """Indexes of the values to leave out of a row whose values are ``sizes`` bytes (None: NULL)."""
        if sum(s or 0 for s in sizes) <= self.max_bytes:
            return []
        return [i for i, s in enumerate(sizes) if s is not None and s > self.share]

    def noted(self, row: Sequence[Any], omitted: Mapping[int, int], names: Sequence[str]) -> list[Any]:
        """``row`` with the cell of each omitted value (index → its size in bytes) replaced by a note."""
        out = list(row)
        for index, size in omitted.items():
            out[index] = note(size, self, names[index])
        return out


def note(size: int, budget: RowBudget, name: str) -> str:
    """What an omitted cell says: how big the value is, which bound it broke, and what to select instead."""
    return (
        f"{OMITTED_PREFIX}{size:,} bytes; this row is over the {budget.max_bytes:,}-byte result cap and a "
        f"value may take {budget.share:,} bytes of it] select a prefix (left({name}, 1000), substr) or "
        f"length({name}) instead"
    )
