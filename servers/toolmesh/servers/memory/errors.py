"""Errors of the memory server: one root, each subclass also a protocols error so it maps to a wire code."""

from __future__ import annotations

from toolmesh.protocols.errors import (
    ConfigError,
    InputError,
    LimitExceeded,
    NotFoundError,
    PermissionDenied,
    ToolmeshError,
    UnavailableError,
)

__all__ = [
    "MemoryConfigError",
    "MemoryInputError",
    "MemoryLimitExceeded",
    "MemoryNotFound",
    "MemoryServerError",
    "MemoryUnavailable",
    "SchemaTooNew",
    "SecretRefused",
]


class MemoryServerError(ToolmeshError):
    """Root of every error the memory server raises on purpose (not ``MemoryError``: that is Python's)."""


class MemoryConfigError(MemoryServerError, ConfigError):
    """The store URL or the embedder setting cannot be used."""


class SchemaTooNew(MemoryConfigError):
    """The database was written by a newer toolmesh whose schema this version does not know."""


class MemoryInputError(MemoryServerError, InputError):
    """A tool argument is invalid (a bad scope, an empty text, a time range that ends before it starts)."""


class MemoryNotFound(MemoryServerError, NotFoundError):
    """An item id or an entity name does not exist in the scope asked about."""


class MemoryLimitExceeded(MemoryServerError, LimitExceeded):
    """A cap was hit: text size, items per call, graph depth, k."""


class SecretRefused(MemoryServerError, PermissionDenied):
    """The text holds a secret (an API key, a password, a token); secrets are never stored."""


class MemoryUnavailable(MemoryServerError, UnavailableError):
    """The database (PostgreSQL) cannot be reached right now."""
