"""SQLite's printf()/format() with widths and precisions bounded, installed on every connection we open.

SQLite's own printf fills ``%.*c`` one character at a time and keeps looping after its output has passed the
length limit: ``printf('%.*c', 2000000000, 'x')`` is a single function call that burns ~20 s of CPU, and no
progress handler or interrupt can stop it mid-call. A width or precision above the length limit can only ever
produce a value over the limit, for which the built-in returns NULL; the replacement returns that NULL at once
and hands every other call to an untouched in-memory SQLite connection, which formats exactly as the built-in.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["bounded_printf"]

# %[flags][width][.precision][size]type, width and precision either digits or '*' (taken from the arguments)
_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d+))?(?:ll|l)?(.)", re.DOTALL)
_LEADING_NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _as_number(value: object) -> float:
    """What SQLite's integer conversion makes of a ``*`` argument, at least in size (text by its prefix)."""
    if isinstance(value, int | float):
        return abs(float(value))
    if isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        match = _LEADING_NUMBER.match(text)
        return abs(float(match.group(0))) if match else 0.0
    return 0.0


def _largest_field(fmt: str, args: tuple[object, ...]) -> float:
    """The largest width or precision ``fmt`` asks for, ``*`` fields read from ``args`` in order."""
    largest = 0.0
    position = 0
    for match in _SPEC.finditer(fmt):
        if match.group(3) == "%":
            continue
        for part in (match.group(1), match.group(2)):
            if part == "*":
                largest = max(largest, _as_number(args[position]) if position < len(args) else 0.0)
                position += 1
            elif part:
                largest = max(largest, float(part))
        position += 1  # the conversion's own argument
    return largest


def bounded_printf(max_length: int) -> Callable[..., object]:
    """A ``printf(format, ...)`` for ``sqlite3.Connection.create_function``: NULL at once for a field wider
    than ``max_length`` (as the built-in returns, after a long loop), the built-in's result otherwise."""
    local = threading.local()  # one plain connection per thread (aiosqlite runs each connection in its own)

    def printf(fmt: object = None, *args: object) -> object:
        if isinstance(fmt, str) and _largest_field(fmt, args) > max_length:
            return None
        plain = getattr(local, "conn", None)
        if plain is None:
            plain = local.conn = sqlite3.connect(":memory:")
            plain.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_length)
        marks = ", ".join("?" * (len(args) + 1))
        return plain.execute(f"SELECT printf({marks})", (fmt, *args)).fetchone()[0]

    return printf
