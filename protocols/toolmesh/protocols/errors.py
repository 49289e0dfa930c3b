"""One root exception for toolmesh and one table that maps errors to wire codes.

Every slice raises subclasses of :class:`ToolmeshError`. Tool code raises them freely: the serving
middleware turns them into ``isError`` tool results whose text a model can act on, and HTTP faces use
:func:`wire_code` to pick the JSON-RPC code and HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "WIRE_CODES",
    "ConfigError",
    "ConflictError",
    "InputError",
    "LimitExceeded",
    "NotFoundError",
    "PermissionDenied",
    "TimeoutExceeded",
    "ToolmeshError",
    "UnavailableError",
    "UpstreamError",
    "WireCode",
    "wire_code",
]


class ToolmeshError(Exception):
    """Root of every error toolmesh raises on purpose.

    ``hint`` says what the caller can do about it; it is appended to the message a model sees.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if not self.hint:
            return self.message
        stop = "" if self.message.endswith((".", "!", "?", ":")) else "."
        return f"{self.message}{stop} {self.hint}"


class ConfigError(ToolmeshError):
    """Settings are missing or inconsistent; raised at start-up, never mid-request."""


class InputError(ToolmeshError):
    """The caller sent something invalid: wrong type, bad syntax, out-of-range value."""


class NotFoundError(ToolmeshError):
    """A named thing (tool, table, file, task, entry) does not exist."""


class PermissionDenied(ToolmeshError):
    """The request is understood but not allowed (writes on a read-only connection, paths outside a root)."""


class LimitExceeded(ToolmeshError):
    """A hard cap was hit: size, count or depth."""


class TimeoutExceeded(ToolmeshError):
    """Work took longer than its configured limit."""


class ConflictError(ToolmeshError):
    """The request conflicts with the current state (ownership, versions, duplicates)."""


class UnavailableError(ToolmeshError):
    """A dependency (database, peer, registry) cannot be reached right now; retrying may help."""


class UpstreamError(ToolmeshError):
    """A dependency answered with an error we could not handle."""


@dataclass(frozen=True, slots=True)
class WireCode:
    """How an error is represented on each wire."""

    jsonrpc: int
    http: int
    retryable: bool = False


# JSON-RPC: -32602 invalid params, -32601 method not found, -32603 internal; -32000..-32099 are ours.
WIRE_CODES: dict[type[ToolmeshError], WireCode] = {
    ToolmeshError: WireCode(-32603, 500),
    ConfigError: WireCode(-32603, 500),
    InputError: WireCode(-32602, 400),
    NotFoundError: WireCode(-32001, 404),
    PermissionDenied: WireCode(-32003, 403),
    LimitExceeded: WireCode(-32005, 413),
    TimeoutExceeded: WireCode(-32008, 504, retryable=True),
    ConflictError: WireCode(-32009, 409),
    UnavailableError: WireCode(-32010, 503, retryable=True),
    UpstreamError: WireCode(-32011, 502, retryable=True),
}


def wire_code(error: BaseException) -> WireCode:
    """The wire code of ``error``: the entry of its closest class in :data:`WIRE_CODES`."""
    for cls in type(error).__mro__:
        if cls in WIRE_CODES:
            return WIRE_CODES[cls]
    return WIRE_CODES[ToolmeshError]
