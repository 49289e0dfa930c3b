"""The JSON-RPC 2.0 envelope check both transports run before a message reaches the MCP SDK.

The SDK reads a message as a request only if its ``id`` is a string or an integer; anything else with
a ``method`` still matches its notification model (extra keys are ignored), so a request with an
object, float, boolean or null ``id`` was taken for a notification: a silent 202 on HTTP, nothing at
all on stdio. On stdio a line that is not JSON was dropped with a log line and no reply. JSON-RPC 2.0
says both get an error response with ``"id": null``: -32700 Parse error for text that is not JSON,
-32600 Invalid Request for JSON that is not a valid request.

:func:`check_message` decides; the HTTP guard (``guards.JsonRpcEnvelopeGuard``) and the stdio reader
(``stdio.serve_stdio``) answer what it refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mcp_types as mt
from pydantic import ValidationError

__all__ = ["INVALID_REQUEST", "PARSE_ERROR", "Rejection", "check_message"]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

_BATCH = (
    "JSON-RPC batches are not supported: MCP removed them in protocol version 2025-06-18. "
    "Send one request per message."
)


@dataclass(frozen=True)
class Rejection:
    """Why a message was refused, as the JSON-RPC error to answer it with (always ``"id": null``)."""

    code: int
    message: str

    def payload(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": None, "error": {"code": self.code, "message": self.message}}

    def encode(self) -> bytes:
        return json.dumps(self.payload()).encode()

    def as_mcp(self) -> mt.JSONRPCError:
        return mt.JSONRPCError(
            jsonrpc="2.0", id=None, error=mt.ErrorData(code=self.code, message=self.message)
        )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _valid_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_message(raw: bytes | str, *, full: bool = False) -> Rejection | None:
    """The error to answer ``raw`` with, or ``None`` if it may go on to the SDK.

    Always checked: that it is JSON, one object (no batch), and that the ``id`` of a request or result
    is a string or an integer. With ``full``, also that it is a JSON-RPC 2.0 request, notification or
    response at all (the HTTP transport checks that itself and answers; stdio drops such lines).
    """
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        where = (
            f" ({exc.msg} at line {exc.lineno} column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        return Rejection(
            PARSE_ERROR,
            f"Parse error: the message is not valid JSON{where}. Send one JSON-RPC 2.0 object per message.",
        )
    if isinstance(message, list):
        return Rejection(INVALID_REQUEST, _BATCH)
    if not isinstance(message, dict):
        return Rejection(
            INVALID_REQUEST,
            f"Invalid Request: a JSON-RPC message is a JSON object, not {_kind(message)}.",
        )
    if "id" in message and ("method" in message or "result" in message):
        request_id = message["id"]
        if not _valid_id(request_id):
            return Rejection(
                INVALID_REQUEST,
                f"Invalid Request: the id must be a string or an integer, not {_kind(request_id)}. "
                "Omit the id only for a notification, which gets no answer.",
            )
    if "id" in message and "error" in message and message["id"] is not None and not _valid_id(message["id"]):
        return Rejection(
            INVALID_REQUEST,
            f"Invalid Request: the id of an error response must be a string, an integer or null, "
            f"not {_kind(message['id'])}.",
        )
    if full:
        try:
            mt.jsonrpc_message_adapter.validate_python(message, by_name=False)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"][1:]) or "message"
            return Rejection(
                INVALID_REQUEST,
                "Invalid Request: not a JSON-RPC 2.0 request, notification or response "
                f'({field}: {first["msg"]}). A request needs jsonrpc "2.0", a string method and an id.',
            )
    return None
