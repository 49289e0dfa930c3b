"""The sql server's errors: one root, each subclass mapped to a wire code through its protocols parent."""

from __future__ import annotations

from toolmesh.protocols.errors import (
    ConfigError,
    InputError,
    LimitExceeded,
    NotFoundError,
    PermissionDenied,
    TimeoutExceeded,
    ToolmeshError,
    UnavailableError,
)

__all__ = [
    "ConnectionUnavailable",
    "QueryRejected",
    "QueryTimeout",
    "SqlConfigError",
    "SqlError",
    "SqlInputError",
    "SqlLimitExceeded",
    "SqlNotFound",
    "SqlSyntaxError",
]


class SqlError(ToolmeshError):
    """Root of every error the sql server raises on purpose."""


class SqlConfigError(SqlError, ConfigError):
    """A connection is misconfigured (bad URL, missing secret, unreadable TOML file)."""


class SqlInputError(SqlError, InputError):
    """The database rejected the query, or an argument was invalid."""


class SqlSyntaxError(SqlInputError):
    """The query does not parse; the message carries the position and the offending token."""


class SqlNotFound(SqlError, NotFoundError):
    """An unknown connection, table or column; the message lists the closest real names."""


class QueryRejected(SqlError, PermissionDenied):
    """The query is not allowed on this connection (writes, dangerous functions, several statements)."""


class SqlLimitExceeded(SqlError, LimitExceeded):
    """A hard cap was hit in a way that cannot be reported as a truncated result."""


class QueryTimeout(SqlError, TimeoutExceeded):
    """The query ran longer than the connection's statement timeout."""


class ConnectionUnavailable(SqlError, UnavailableError):
    """The database cannot be reached right now."""
