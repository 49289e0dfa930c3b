"""Errors of the docs server: one root, each subclass also a protocols error so it maps to a wire code."""

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
    "DocsConfigError",
    "DocsError",
    "DocsInputError",
    "DocsLimitExceeded",
    "DocsNotFound",
    "DocsUnavailable",
    "ExtractionError",
    "OutsideRoots",
]


class DocsError(ToolmeshError):
    """Root of every error the docs server raises on purpose."""


class DocsConfigError(DocsError, ConfigError):
    """Docs settings are missing or inconsistent (no roots, an unreadable model directory)."""


class DocsInputError(DocsError, InputError):
    """A tool argument is invalid (an empty query, a bad glob, an unknown strategy)."""


class DocsNotFound(DocsError, NotFoundError):
    """A collection, document or chunk does not exist."""


class OutsideRoots(DocsError, PermissionDenied):
    """A path resolves outside every configured root."""


class DocsLimitExceeded(DocsError, LimitExceeded):
    """A cap was hit (file size, query length, number of files)."""


class DocsUnavailable(DocsError, UnavailableError):
    """An optional backend (embedding model, Qdrant) is not available."""


class ExtractionError(DocsError, InputError):
    """A file could not be read as the format its name says (malformed PDF, binary data)."""
