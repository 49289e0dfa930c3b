"""The parser line of defence: one statement, an allowlist of read statements, no dangerous functions.

The database is the first line (read-only connections and transactions, SQLite's authorizer, timeouts); this
module is the second. It tokenizes and parses the query with sqlglot in the connection's dialect and refuses,
with a reason a model can act on:

- anything but exactly one statement (``SELECT 1; DROP TABLE t`` and ``COMMIT; ...``);
- statement kinds outside the allowlist (reads: SELECT / set operations / VALUES / MySQL SHOW and DESCRIBE),
  and write or DDL nodes anywhere in the tree (data-modifying CTEs, ``SELECT ... INTO``);
- row locks (``FOR UPDATE`` / ``FOR SHARE``) and functions that read files, reach the network, sleep, take
  locks,
  run SQL from a string or change server state;
- executable comments (``/*! ... */``), which MySQL and MariaDB run but every other parser skips.

It also rewrites portable placeholders (``?`` with a list, ``:name`` with a mapping) into the driver's own
style.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from toolmesh.servers.sql.denylist import DENIED_FUNCTIONS, function_name_denied
from toolmesh.servers.sql.errors import QueryRejected, SqlInputError, SqlLimitExceeded, SqlSyntaxError
from toolmesh.servers.sql.lexer import Lexeme, lex

__all__ = [
    "DENIED_FUNCTIONS",
    "MAX_NESTING",
    "MAX_SQL_CHARS",
    "CheckedQuery",
    "Dialect",
    "Scalar",
    "bind_params",
    "check_query",
    "nesting_error",
    "refuse_deep_nesting",
]

Dialect = Literal["sqlite", "postgres", "mysql"]
Scalar = str | int | float | bool | None
MAX_SQL_CHARS = 100_000
# Parentheses deeper than this are refused before parsing: sqlglot recurses out at about 45 (fewer for
# nested subqueries), so nothing it could read is lost, and a 20,000-deep bomb costs one linear lex.
MAX_NESTING = 64

# Words that never belong in a read query outside strings and quoted identifiers.
_DENIED_WORDS = frozenset({"INTO", "OUTFILE", "DUMPFILE"})

_READ_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
_MYSQL_READ_ROOTS: tuple[type[exp.Expression], ...] = (exp.Show, exp.Describe)
_WRITE_ROOTS: tuple[type[exp.Expression], ...] = (exp.Insert, exp.Update, exp.Delete)


def _node_types(*names: str) -> tuple[type[exp.Expression], ...]:
    found = [getattr(exp, name, None) for name in names]
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, exp.Expression))


_WRITE_NODES = _node_types("Insert", "Update", "Delete", "Merge", "Into", "Copy", "LoadData", "TruncateTable")
_ALWAYS_DENIED_NODES = _node_types(
    "Create",
    "Drop",
    "Alter",
    "Command",
    "Pragma",
    "Attach",
    "Detach",
    "Set",
    "Transaction",
    "Commit",
    "Rollback",
    "Use",
    "Grant",
    "Revoke",
    "Analyze",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
    "Lock",
    "Copy",
    "LoadData",
    "Into",
)


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    """A query that passed the guard: its text (trailing ';' removed), its tree and its statement kind."""

    sql: str
    expression: exp.Expression
    kind: str

    def tables(self) -> list[str]:
        """Names of the tables the query reads (unquoted, without schema)."""
        return sorted({t.name for t in self.expression.find_all(exp.Table) if t.name})


@functools.lru_cache(maxsize=512)
def _tokens(sql: str, dialect: Dialect) -> list[Token]:
    """Tokens of ``sql`` (cached: models repeat queries; callers never mutate tokens)."""
    try:
        return sqlglot.tokenize(sql, read=dialect)
    except TokenError as exc:
        raise SqlSyntaxError(
            f"the query does not tokenize: {exc}", hint="Check quotes and comments."
        ) from exc


def _scan_tokens(tokens: list[Token], *, write: bool) -> None:
    semicolons = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
    if semicolons and semicolons != [len(tokens) - 1]:
        raise QueryRejected(
            "only one SQL statement is allowed per call",
            hint="Send each statement in its own call; transaction control (COMMIT, BEGIN) is never allowed.",
        )
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.token_type == TokenType.STRING:
            continue
        if (
            following is not None
            and following.token_type == TokenType.L_PAREN
            and function_name_denied(token.text)
        ):
            raise QueryRejected(
                f"the function {token.text}() is not allowed: it can read files, reach the network, sleep, "
                "take locks or change server state",
                hint="Query tables and views only.",
            )
        quoted = token.token_type == TokenType.IDENTIFIER
        if not quoted and not write and token.text.upper() in _DENIED_WORDS:
            raise QueryRejected(
                f"`{token.text}` is not allowed in a read-only query",
                hint="Use a plain SELECT; results come back to you, they cannot be written anywhere.",
            )


def _syntax_error(exc: ParseError, sql: str) -> SqlSyntaxError:
    details = exc.errors[0] if exc.errors else {}
    line, col = details.get("line"), details.get("col")
    token = details.get("highlight") or ""
    description = details.get("description") or "invalid syntax"
    where = f" at line {line}, column {col}" if line is not None else ""
    near = f" near `{token}`" if token else ""
    return SqlSyntaxError(
        f"syntax error{where}{near}: {description}",
        hint="Fix the SQL at that position; placeholders are `?` (with a list) or `:name` (with an object).",
    )


_READ_STARTS = frozenset({"select", "with", "values", "("})
_MYSQL_READ_STARTS = frozenset({"show", "describe", "desc"})
_WRITE_STARTS = frozenset({"insert", "update", "delete", "with"})


def _starts(dialect: Dialect, *, write: bool) -> frozenset[str]:
    if write:
        return _WRITE_STARTS
    return _READ_STARTS | _MYSQL_READ_STARTS if dialect == "mysql" else _READ_STARTS


def _kind_refused(kind: str, dialect: Dialect, *, write: bool) -> QueryRejected:
    if write:
        return QueryRejected(
            f"{kind} is not allowed by the write tool", hint="Only INSERT, UPDATE and DELETE are accepted."
        )
    return QueryRejected(
        f"{kind} statements are not allowed: this connection is read-only",
        hint="Only SELECT (with WITH, UNION, VALUES) is accepted"
        + ("; SHOW and DESCRIBE too." if dialect == "mysql" else ".")
        + " Use explain_query for plans and describe_table for schemas.",
    )


def _called(lexemes: list[Lexeme], index: int, dialect: Dialect) -> bool:
    """Whether lexeme ``index`` is a name the database would call: a name directly followed by ``(``."""
    lexeme = lexemes[index]
    following = lexemes[index + 1] if index + 1 < len(lexemes) else None
    if following is None or following.value != "(" or following.kind != "punct":
        return False
    # MySQL with ANSI_QUOTES reads "name"( as a call; the server clears the mode, refuse it anyway.
    return lexeme.kind in ("word", "quoted") or (dialect == "mysql" and lexeme.raw.startswith('"'))


def _scan_lexemes(lexemes: list[Lexeme], dialect: Dialect, *, write: bool) -> None:
    """The checks that depend on how the database reads names, made on the database's own reading."""
    for index, lexeme in enumerate(lexemes):
        if lexeme.kind == "punct" and lexeme.value == ";" and index != len(lexemes) - 1:
            raise QueryRejected(
                "only one SQL statement is allowed per call",
                hint="Send each statement in its own call; transaction control (COMMIT, BEGIN) is never "
                "allowed.",
            )
        if _called(lexemes, index, dialect):
            name = lexeme.value.strip().lower()
            if dialect == "postgres" and lexeme.kind == "word" and name == "operator":
                raise QueryRejected(
                    "the OPERATOR(schema.op) syntax is not accepted: it can name any operator's function",
                    hint="Write the operator itself (a + b, a || b).",
                )
            if function_name_denied(name):
                written = f" (written {lexeme.raw})" if lexeme.raw.lower() != name else ""
                raise QueryRejected(
                    f"the function {name}(){written} is not allowed: it can read files, reach the network, "
                    "sleep, take locks or change server state",
                    hint="Query tables and views only.",
                )
        previous = lexemes[index - 1] if index else None
        if (
            dialect == "postgres"
            and previous is not None
            and previous.kind == "punct"
            and previous.value == "."
            and lexeme.kind in ("word", "quoted")
            and function_name_denied(lexeme.value.strip())
        ):
            # PostgreSQL's field notation calls a one-argument function: ('/etc/passwd'::text).pg_read_file
            raise QueryRejected(
                f"the function {lexeme.value.strip().lower()}() (called as the field .{lexeme.raw}) is not "
                "allowed: it can read files, reach the network, sleep, take locks or change server state",
                hint="Query tables and views only.",
            )
        if lexeme.kind == "word" and not write and lexeme.value.upper() in _DENIED_WORDS:
            raise QueryRejected(
                f"`{lexeme.raw}` is not allowed in a read-only query",
                hint="Use a plain SELECT; results come back to you, they cannot be written anywhere.",
            )
        if dialect == "mysql" and lexeme.kind == "word" and lexeme.value in ("next", "previous"):
            tail = [x.value for x in lexemes[index + 1 : index + 3] if x.kind == "word"]
            if tail == ["value", "for"]:
                raise QueryRejected(
                    f"`{lexeme.raw} VALUE FOR` is not allowed: it changes a sequence's session state",
                    hint="Read the sequence's table instead (SELECT * FROM seq).",
                )
        if dialect == "mysql" and lexeme.kind == "punct" and lexeme.value == ":":
            following = lexemes[index + 1] if index + 1 < len(lexemes) else None
            if following is not None and following.value == "=" and following.start == lexeme.end:
                raise QueryRejected(
                    "assignments (`@var := ...`) are not allowed: user variables would outlive this call",
                    hint="Compute the value in the query itself, e.g. with a subquery or a CTE.",
                )


def _depth(lexemes: list[Lexeme]) -> int:
    depth = deepest = 0
    for lexeme in lexemes:
        if lexeme.kind == "punct" and lexeme.value in "()":
            depth += 1 if lexeme.value == "(" else -1
            deepest = max(deepest, depth)
    return deepest


def nesting_error(depth: int | None = None) -> SqlLimitExceeded:
    """The refusal of a query the parser cannot recurse through (``depth``: its parentheses, if known)."""
    levels = f"{depth} levels of parentheses" if depth is not None else "too many levels"
    return SqlLimitExceeded(
        f"the query nests too deeply for the SQL checker ({levels}; at most {MAX_NESTING}, and long chains "
        "of CASE, NOT or subqueries count too)",
        hint="Flatten it: name subqueries in a WITH clause, drop redundant parentheses, use IN (...) lists.",
    )


def refuse_deep_nesting(sql: str, dialect: Dialect) -> None:
    """Raise ``nesting_error`` if ``sql`` (read as ``dialect`` reads it) nests beyond ``MAX_NESTING``."""
    depth = _depth(lex(sql, dialect))
    if depth > MAX_NESTING:
        raise nesting_error(depth)


def _normalised_text(sql: str, lexemes: list[Lexeme]) -> str:
    """``sql`` with PostgreSQL ``U&"..."`` identifiers rewritten as the plain quoted names they decode to,
    so the parser and the database read the same names."""
    parts: list[str] = []
    cursor = 0
    for lexeme in lexemes:
        if lexeme.kind == "quoted" and lexeme.raw[:2].lower() == "u&":
            parts.append(sql[cursor : lexeme.start])
            parts.append('"' + lexeme.value.replace('"', '""') + '"')
            cursor = lexeme.end
    parts.append(sql[cursor:])
    return "".join(parts)


@functools.lru_cache(maxsize=512)
def check_query(sql: str, dialect: Dialect, *, write: bool = False) -> CheckedQuery:
    """Validate ``sql`` for ``dialect``; ``write=True`` admits INSERT/UPDATE/DELETE instead of reads.

    Results are cached (refusals are not: they raise); the returned tree must not be mutated.
    """
    if len(sql) > MAX_SQL_CHARS:
        raise SqlLimitExceeded(f"the query is {len(sql)} characters long; the limit is {MAX_SQL_CHARS}")
    text = sql.strip()
    if not text:
        raise SqlInputError("the query is empty", hint="Send one SELECT statement.")
    if "/*!" in text or "/*m!" in text.lower():
        raise QueryRejected(
            "executable comments (/*! ... */, /*M! ... */) are not allowed",
            hint="Remove the comment; MySQL would run the text inside it.",
        )
    if "\x00" in text:
        raise SqlInputError("the query contains a NUL character")
    lexemes = lex(text, dialect)
    if not lexemes:
        raise SqlInputError("the query contains only comments", hint="Send one SELECT statement.")
    if (depth := _depth(lexemes)) > MAX_NESTING:
        raise nesting_error(depth)
    _scan_lexemes(lexemes, dialect, write=write)
    text = _normalised_text(text, lexemes)
    tokens = _tokens(text, dialect)
    if not tokens:
        raise SqlInputError("the query contains only comments", hint="Send one SELECT statement.")
    _scan_tokens(tokens, write=write)
    try:
        parsed = [
            e for e in sqlglot.parse(text, read=dialect) if e is not None and not isinstance(e, exp.Semicolon)
        ]
    except ParseError as exc:
        raise _syntax_error(exc, text) from exc
    if len(parsed) != 1:
        raise QueryRejected(
            "only one SQL statement is allowed per call", hint="Send each statement separately."
        )
    root = parsed[0]
    allowed = _WRITE_ROOTS if write else _READ_ROOTS + (_MYSQL_READ_ROOTS if dialect == "mysql" else ())
    first = lexemes[0]
    if not isinstance(root, allowed):
        # sqlglot's catch-all Command node names nothing; the statement's first word does
        kind = first.raw.upper() if isinstance(root, exp.Command) else root.key.upper()
        raise _kind_refused(kind, dialect, write=write)
    if first.kind not in ("word", "punct") or first.value not in _starts(dialect, write=write):
        # the parser read a query the database would read as another statement: trust the database's reading
        raise _kind_refused(first.raw.upper(), dialect, write=write)
    denied = _ALWAYS_DENIED_NODES if write else _ALWAYS_DENIED_NODES + _WRITE_NODES
    for node in root.walk():
        if node is not root and isinstance(node, denied):
            raise QueryRejected(
                f"{node.key.upper()} inside the query is not allowed"
                + (
                    ""
                    if write
                    else ": this connection is read-only (data-modifying CTEs and row locks included)"
                ),
                hint="Use a plain SELECT." if not write else "Send DDL and transaction control to a DBA.",
            )
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if name and function_name_denied(name):
                raise QueryRejected(
                    f"the function {name}() is not allowed", hint="Query tables and views only."
                )
    if tokens[-1].token_type == TokenType.SEMICOLON:  # the closing ';' and any comment after it
        text = text[: tokens[-1].start].rstrip()
    return CheckedQuery(sql=text, expression=root, kind=root.key)


def _placeholders(tokens: list[Token]) -> list[tuple[int, int, str | None]]:
    """(start, end_inclusive, name) of each portable placeholder; name None for ``?``."""
    found: list[tuple[int, int, str | None]] = []
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            found.append((token.start, token.end, None))
        elif token.token_type == TokenType.COLON and index + 1 < len(tokens):
            name_token = tokens[index + 1]
            if name_token.start == token.end + 1 and name_token.token_type in (TokenType.VAR, TokenType.NAME):
                found.append((token.start, name_token.end, name_token.text))
    return found


def bind_params(
    sql: str, dialect: Dialect, params: Sequence[Scalar] | Mapping[str, Scalar] | None
) -> tuple[str, list[Scalar] | dict[str, Scalar] | None]:
    """Rewrite ``?`` / ``:name`` placeholders into the driver's style and order the values to match.

    PostgreSQL also accepts its own ``$1`` placeholders with a list. Values are always sent separately from
    the
    SQL text (asyncpg and SQLite bind them; aiomysql escapes them), never formatted in by us.
    """
    tokens = _tokens(sql, dialect)
    holes = _placeholders(tokens)
    native_pg = dialect == "postgres" and any(t.token_type == TokenType.PARAMETER for t in tokens)
    if params is None:
        if holes or native_pg:
            raise SqlInputError("the query has placeholders but no params were given", hint="Pass `params`.")
        return sql, None
    named = [h for h in holes if h[2] is not None]
    positional = [h for h in holes if h[2] is None]
    if named and positional:
        raise SqlInputError("mix of `?` and `:name` placeholders", hint="Use one style per query.")
    if isinstance(params, Mapping):
        if positional or native_pg:
            raise SqlInputError(
                "params is an object, so placeholders must be `:name`", hint="Or pass a list."
            )
        names = [h[2] for h in named if h[2] is not None]
        missing = sorted({n for n in names if n not in params})
        if missing:
            raise SqlInputError(f"no value for placeholder(s) {', '.join(':' + m for m in missing)}")
        unused = sorted(set(params) - set(names))
        if unused:
            raise SqlInputError(f"params has values no placeholder uses: {', '.join(unused)}")
        if dialect == "sqlite":
            return sql, dict(params)
        order = {name: i for i, name in enumerate(dict.fromkeys(names))}
        return _rewrite(sql, dialect, named, order), _ordered(dialect, named, order, params)
    values = list(params)
    if named:
        raise SqlInputError(
            "params is a list, so placeholders must be `?`", hint="Or pass an object for `:name`."
        )
    if native_pg:
        return sql, values
    if len(positional) != len(values):
        raise SqlInputError(
            f"the query has {len(positional)} `?` placeholder(s) but params has {len(values)} value(s)"
        )
    if dialect == "sqlite":
        return sql, values
    return _rewrite(sql, dialect, positional, None), values


def _ordered(
    dialect: Dialect,
    holes: list[tuple[int, int, str | None]],
    order: dict[str, int],
    params: Mapping[str, Scalar],
) -> list[Scalar]:
    if dialect == "postgres":
        return [params[name] for name in order]
    return [params[h[2]] for h in holes if h[2] is not None]


def _rewrite(
    sql: str, dialect: Dialect, holes: list[tuple[int, int, str | None]], order: dict[str, int] | None
) -> str:
    parts: list[str] = []
    cursor = 0
    for position, (start, end, name) in enumerate(holes):
        chunk = sql[cursor:start]
        parts.append(chunk.replace("%", "%%") if dialect == "mysql" else chunk)
        if dialect == "postgres":
            number = (order[name] if order is not None and name is not None else position) + 1
            parts.append(f"${number}")
        else:
            parts.append("%s")
        cursor = end + 1
    tail = sql[cursor:]
    parts.append(tail.replace("%", "%%") if dialect == "mysql" else tail)
    return "".join(parts)
