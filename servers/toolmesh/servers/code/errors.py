"""The code server's errors: one root, each subclass mapped to a wire code through its protocols parent."""

from __future__ import annotations

from toolmesh.protocols.errors import (
    ConfigError,
    InputError,
    LimitExceeded,
    NotFoundError,
    PermissionDenied,
    TimeoutExceeded,
    ToolmeshError,
)

__all__ = [
    "CodeConfigError",
    "CodeError",
    "CodeInputError",
    "CodeLimitExceeded",
    "CodeNotFound",
    "CodeTimeout",
    "PathRefused",
]


class CodeError(ToolmeshError):
    """Root of every error the code server raises on purpose."""


class CodeConfigError(CodeError, ConfigError):
    """The settings are unusable (no such root, an index file inside the tree)."""


class CodeInputError(CodeError, InputError):
    """A malformed argument: bad regex, bad cursor, bad line range."""


class CodeNotFound(CodeError, NotFoundError):
    """No such file or symbol in the repository."""


class PathRefused(CodeError, PermissionDenied):
    """A path outside the root, through a symlink that leaves it, a secret, a device or FIFO, a binary."""


class CodeLimitExceeded(CodeError, LimitExceeded):
    """A file or result is bigger than the configured cap."""


class CodeTimeout(CodeError, TimeoutExceeded):
    """A search ran past its time budget."""
