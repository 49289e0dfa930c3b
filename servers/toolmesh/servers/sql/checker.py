"""The parser check (guard.py) and parameter binding, off the event loop, with size, nesting and time bounds.

sqlglot spends about a second of CPU on a 100,000-character query; on the event loop that stalls every other
caller (and, on the gateway, every other server). Here each check runs in a worker thread, big ones at most
``_WORKERS`` at a time (a refused or timed-out check keeps its slot until its thread ends, so a burst of big
queries cannot take every core), and the caller stops waiting at its time limit. A query nested deeper than
the parser can recurse is refused with a message, not a masked RecursionError.
"""

from __future__ import annotations

import asyncio
import re

from toolmesh.servers.sql.backend import Params
from toolmesh.servers.sql.errors import QueryTimeout, SqlLimitExceeded
from toolmesh.servers.sql.guard import (
    MAX_NESTING,
    CheckedQuery,
    Dialect,
    Scalar,
    bind_params,
    check_query,
    nesting_error,
    refuse_deep_nesting,
)

__all__ = ["Bound", "QueryChecker"]

_WORKERS = 2
_SMALL = 4_000  # characters: a check this size takes a few milliseconds, so it takes no slot


def _raw_depth(sql: str) -> int:
    """The parentheses' depth counting those in strings too: a cheap signal (on the loop), never a verdict."""
    depth = deepest = 0
    for paren in re.findall(r"[()]", sql):
        depth += 1 if paren == "(" else -1
        deepest = max(deepest, depth)
    return deepest


Bound = tuple[CheckedQuery, str, list[Scalar] | dict[str, Scalar] | None]


def _check(sql: str, dialect: Dialect, write: bool, params: Params) -> Bound:
    """The guard's verdict, then the placeholders rewritten for the driver (both tokenize the text)."""
    try:
        checked = check_query(sql, dialect, write=write)
    except RecursionError as exc:
        raise nesting_error() from exc
    return (checked, *bind_params(checked.sql, dialect, params))


class QueryChecker:
    """Checks queries for one server: ``max_chars`` per query, ``time_limit`` seconds per check."""

    def __init__(self, *, max_chars: int) -> None:
        self.max_chars = max_chars
        self._slots = asyncio.Semaphore(_WORKERS)

    async def check(
        self, sql: str, dialect: Dialect, params: Params, *, write: bool = False, time_limit: float
    ) -> Bound:
        """The checked query, its text for the driver and its values in the driver's order."""
        if len(sql) > self.max_chars:
            raise SqlLimitExceeded(
                f"the query is {len(sql):,} characters long; this server accepts at most {self.max_chars:,}",
                hint="Shorten it: move long literal lists into a parameter or a table, or split the work.",
            )
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(time_limit):
                if len(sql) <= _SMALL:  # milliseconds of work: never queued behind the big ones
                    return await loop.run_in_executor(None, _check, sql, dialect, write, params)
                if _raw_depth(sql) > MAX_NESTING:  # a likely nesting bomb: a linear lex confirms it, unqueued
                    await loop.run_in_executor(None, refuse_deep_nesting, sql, dialect)
                await self._slots.acquire()
                work = loop.run_in_executor(None, _check, sql, dialect, write, params)
                work.add_done_callback(lambda _: self._slots.release())
                return await asyncio.shield(work)
        except TimeoutError as exc:
            raise QueryTimeout(
                f"checking the query took longer than the {time_limit:g} s limit "
                "(other large queries may be being checked)",
                hint="Send a shorter or simpler query, or retry in a moment.",
            ) from exc
