"""Logging for every deployable: one handler, on stderr, never stdout (stdout is the stdio transport)."""

from __future__ import annotations

import logging
import sys

from toolmesh.protocols.errors import ToolmeshError

__all__ = ["ExpectedErrorFilter", "configure_logging", "quiet_expected_errors"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ExpectedErrorFilter(logging.Filter):
    """Expected failures (a ToolmeshError under a tool call) are logged as one line, without a traceback.

    They are answers to bad requests, not crashes; the caller already got the message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ToolmeshError):
            record.msg = f"{record.getMessage()}: {record.exc_info[1]}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# Where FastMCP logs a failed tool call (with the exception attached) before middleware sees it.
_TOOL_CALL_LOGGERS = ("fastmcp.server.server",)


def quiet_expected_errors() -> None:
    """Attach :class:`ExpectedErrorFilter` to FastMCP's tool-call logger itself (idempotent).

    A logger-level filter runs before any handler, so an expected failure never pays for a formatted
    traceback, whoever configured the handlers (FastMCP's rich handler renders one in ~100 ms).
    """
    for name in _TOOL_CALL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExpectedErrorFilter) for f in logger.filters):
            logger.addFilter(ExpectedErrorFilter())


def configure_logging(level: str | int = "WARNING") -> None:
    """Route every logger to stderr at ``level``, replacing handlers that write to stdout."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(ExpectedErrorFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that install their own handlers: send them through ours, on stderr.
    for name in ("fastmcp", "mcp", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpx2", "a2a"):
        lib = logging.getLogger(name)
        for h in list(lib.handlers):
            lib.removeHandler(h)
        lib.propagate = True
    logging.getLogger("uvicorn.access").setLevel(
        max(logging.getLevelName(level) if isinstance(level, str) else level, logging.WARNING)
    )
