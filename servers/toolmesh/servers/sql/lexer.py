"""How each database reads the text: a small lexer per dialect, so names are judged as the engine sees them.

sqlglot's tokenizer is a portable approximation: it keeps ``U&"pg\\005fsleep"`` undecoded, nests ``/* */``
comments where MySQL does not, and treats ``--1`` as a comment where MySQL reads ``- -1``. Allow and deny
decisions made on its tokens can therefore disagree with what the database executes. This lexer follows each
engine's own rules instead:

- PostgreSQL: ``"..."`` identifiers (``""`` inside), ``U&"..."`` identifiers with ``\\XXXX`` / ``\\+XXXXXX``
  escapes and ``UESCAPE 'c'``, unquoted names folded to lower case, ``'...'`` strings as
  ``standard_conforming_strings = on`` reads them (the server sets it), ``E'...'`` with backslash escapes,
  ``$tag$...$tag$`` dollar quoting, nested ``/* */`` comments;
- MySQL / MariaDB: backtick identifiers, ``'...'`` and ``"..."`` strings with backslash escapes (the server
  clears ``ANSI_QUOTES`` and ``NO_BACKSLASH_ESCAPES``), ``#`` and ``-- `` comments (``--`` only before
  whitespace), non-nesting ``/* */``, and executable comments ``/*! */`` / ``/*M! */``, which are refused;
- SQLite: ``"..."``, ``[...]`` and backtick identifiers, non-nesting comments (an open one runs to the end).

What cannot be read with certainty (an unterminated quote, a malformed escape) raises ``QueryRejected``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from toolmesh.servers.sql.errors import QueryRejected

__all__ = ["Lexeme", "lex"]

Kind = Literal["word", "quoted", "string", "number", "punct", "param"]
LexDialect = Literal["sqlite", "postgres", "mysql"]

_WORD = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
_MYSQL_WORD = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]+")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_PG_PARAM = re.compile(r"\$\d+")
_UESCAPE = re.compile(r"\s*UESCAPE\s*'([^'])'", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One token as the database reads it: ``value`` is the normalised name for words and identifiers."""

    kind: Kind
    value: str
    start: int
    end: int  # exclusive
    raw: str


def _refuse(message: str, hint: str = "Write names plainly, e.g. pg_sleep, not escaped or quoted.") -> None:
    raise QueryRejected(message, hint=hint)


def _quoted(sql: str, start: int, close: str, *, backslash: bool = False) -> tuple[str, int]:
    """The content of a quoted run starting at ``start`` (the opening quote) and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(sql):
        ch = sql[i]
        if backslash and ch == "\\" and i + 1 < len(sql):
            out.append(sql[i + 1])
            i += 2
            continue
        if ch == close:
            if i + 1 < len(sql) and sql[i + 1] == close and close != "]":
                out.append(close)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    _refuse(
        f"the query has an unterminated {close} quote starting at character {start + 1}",
        hint="Close every quote; the database and the checker must read the same text.",
    )
    raise AssertionError  # unreachable


def _decode_unicode(body: str, escape: str, start: int) -> str:
    """PostgreSQL's ``U&`` escapes: ``<e>XXXX``, ``<e>+XXXXXX`` and ``<e><e>`` for the escape itself."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != escape:
            out.append(ch)
            i += 1
            continue
        if body[i + 1 : i + 2] == escape:
            out.append(escape)
            i += 2
            continue
        digits = 6 if body[i + 1 : i + 2] == "+" else 4
        offset = i + (2 if digits == 6 else 1)
        code = body[offset : offset + digits]
        if len(code) != digits or not all(c in "0123456789abcdefABCDEF" for c in code):
            _refuse(f"the Unicode escape at character {start + 1} is malformed; it cannot be read safely")
        value = int(code, 16)
        if value == 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            _refuse(f"the Unicode escape at character {start + 1} is not a valid character")
        out.append(chr(value))
        i = offset + digits
    return "".join(out)


def _comment_end(sql: str, i: int, *, nested: bool, dialect: LexDialect) -> int:
    """Index after the block comment starting at ``i`` (``/*``)."""
    if dialect == "mysql" and (sql.startswith("/*!", i) or sql[i : i + 4].lower() == "/*m!"):
        _refuse(
            "executable comments (/*! ... */, /*M! ... */) are not allowed",
            hint="Remove the comment; MySQL and MariaDB would run the text inside it.",
        )
    depth = 1
    j = i + 2
    while j < len(sql):
        if nested and sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    if dialect == "sqlite":
        return len(sql)  # SQLite ends an open comment at the end of the input
    _refuse(
        f"the comment starting at character {i + 1} is never closed",
        hint="Close the /* comment with */.",
    )
    raise AssertionError  # unreachable


def _line_comment(sql: str, i: int, dialect: LexDialect) -> bool:
    if sql.startswith("--", i):
        if dialect != "mysql":
            return True
        after = sql[i + 2 : i + 3]
        return after == "" or after.isspace() or ord(after) < 32
    return dialect == "mysql" and sql[i] == "#"


def lex(sql: str, dialect: LexDialect) -> list[Lexeme]:
    """The lexemes of ``sql`` as ``dialect`` reads it (comments dropped)."""
    out: list[Lexeme] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
            continue
        if _line_comment(sql, i, dialect):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline + 1
            continue
        if sql.startswith("/*", i):
            i = _comment_end(sql, i, nested=dialect == "postgres", dialect=dialect)
            continue
        start = i
        if dialect == "postgres" and sql[i : i + 2].lower() == "u&" and sql[i + 2 : i + 3] in ("'", '"'):
            quote = sql[i + 2]
            body, i = _quoted(sql, i + 2, quote)
            escape = "\\"
            if match := _UESCAPE.match(sql, i):
                escape = match.group(1)
                if escape in "0123456789abcdefABCDEF+'\" \t\r\n":
                    _refuse(f"UESCAPE {escape!r} at character {match.start() + 1} is not a valid escape")
                i = match.end()
            value = _decode_unicode(body, escape, start)
            kind: Kind = "quoted" if quote == '"' else "string"
            out.append(Lexeme(kind, value, start, i, sql[start:i]))
            continue
        if dialect == "postgres" and ch in "eE" and sql[i + 1 : i + 2] == "'":
            body, i = _quoted(sql, i + 1, "'", backslash=True)
            out.append(Lexeme("string", body, start, i, sql[start:i]))
            continue
        if dialect == "postgres" and ch == "$":
            if tag := _DOLLAR_TAG.match(sql, i):
                close = sql.find(tag.group(0), tag.end())
                if close < 0:
                    _refuse(f"the dollar-quoted string at character {i + 1} is never closed")
                i = close + len(tag.group(0))
                out.append(Lexeme("string", sql[tag.end() : close], start, i, sql[start:i]))
                continue
            if param := _PG_PARAM.match(sql, i):
                i = param.end()
                out.append(Lexeme("param", param.group(0), start, i, param.group(0)))
                continue
        if ch == "'":
            body, i = _quoted(sql, i, "'", backslash=dialect == "mysql")
            out.append(Lexeme("string", body, start, i, sql[start:i]))
            continue
        if ch == '"':
            if dialect == "mysql":
                body, i = _quoted(sql, i, '"', backslash=True)
                out.append(Lexeme("string", body, start, i, sql[start:i]))
            else:
                body, i = _quoted(sql, i, '"')
                out.append(Lexeme("quoted", body, start, i, sql[start:i]))
            continue
        if ch == "`" and dialect in ("mysql", "sqlite"):
            body, i = _quoted(sql, i, "`")
            out.append(Lexeme("quoted", body, start, i, sql[start:i]))
            continue
        if ch == "[" and dialect == "sqlite":
            body, i = _quoted(sql, i, "]")
            out.append(Lexeme("quoted", body, start, i, sql[start:i]))
            continue
        if dialect == "mysql" and (word := _MYSQL_WORD.match(sql, i)) and not word.group(0).isdigit():
            number = _NUMBER.match(sql, i)
            if number is None or number.end() < word.end():
                i = word.end()
                out.append(Lexeme("word", word.group(0).lower(), start, i, word.group(0)))
                continue
        if number := _NUMBER.match(sql, i):
            i = number.end()
            out.append(Lexeme("number", number.group(0), start, i, number.group(0)))
            continue
        if word := _WORD.match(sql, i):
            i = word.end()
            value = word.group(0)
            out.append(Lexeme("word", value.lower(), start, i, value))
            continue
        i += 1
        out.append(Lexeme("punct", ch, start, i, ch))
    return out
