"""The parser check (guard.py) and parameter binding, off the event loop, with size, nesting and time bounds.

sqlglot spends about a second of CPU on a 100,000-character query; on the event loop that stalls every other
caller (and, on the gateway, every other server). Here each check runs in a worker thread, big ones at most
``_WORKERS`` at a time (a refused or timed-out check keeps its slot until its thread ends, so a burst of big
queries cannot take every core), and the caller stops waiting at its time limit. A query nested deeper than
the parser can recurse is refused with a message, not a masked RecursionError.
"""

from __future__ import annotations

import asyncio

from toolmesh.servers.sql.backend import Params
from toolmesh.servers.sql.errors import QueryTimeout, SqlLimitExceeded
from toolmesh.servers.sql.guard import CheckedQuery, Dialect, Scalar, bind_params, check_query

__all__ = ["Bound", "QueryChecker"]

_WORKERS = 2
_SMALL = 4_000  # characters: a check this size takes a few milliseconds, so it takes no slot


def _nesting_error(sql: str) -> SqlLimitExceeded:
    depth = deepest = 0
    for char in sql:  # approximate (quotes are not skipped): only for the message
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    return SqlLimitExceeded(
        f"the query nests too deeply for the SQL checker (about {deepest} levels of parentheses; "
        "long chains of CASE, NOT or subqueries count too)",
        hint="Flatten it: name subqueries in a WITH clause, drop redundant parentheses, use IN (...) lists.",
    )


Bound = tuple[CheckedQuery, str, list[Scalar] | dict[str, Scalar] | None]


def _check(sql: str, dialect: Dialect, write: bool, params: Params) -> Bound:
    """The guard's verdict, then the placeholders rewritten for the driver (both tokenize the text)."""
    try:
        checked = check_query(sql, dialect, write=write)
    except RecursionError as exc:
        raise _nesting_error(sql) from exc
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
