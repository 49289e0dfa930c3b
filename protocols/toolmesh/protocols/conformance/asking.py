"""Asking the client for input (sampling, elicitation, roots) the same way on both protocol eras.

One helper, :func:`ask`:

- handshake era (2025-11-25 and older): a server→client request on the call's own response stream
  (sampling, elicitation, roots), which needs a stateful session;
- modern era (2026-07-28): no back-channel, so the tool returns an ``InputRequiredResult`` (SEP-2322)
  and reads the client's answers from ``ctx.input_responses`` when the client retries. ``requestState``
  is sealed by the SDK's request-state boundary, so a tampered echo never reaches a tool.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import mcp_types as mt
from fastmcp import Context
from mcp import MCPError
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from toolmesh.protocols.conformance.fixture_content import FixtureError
from toolmesh.protocols.errors import InputError, UnavailableError

__all__ = [
    "Capability",
    "InputNeeded",
    "InputRequest",
    "InputResponse",
    "ask",
    "elicit_request",
    "elicitation_summary",
    "elicited",
    "is_modern",
    "require",
    "roots_request",
    "sampled_text",
    "sampling_request",
]

Capability = Literal["sampling", "elicitation", "roots"]
InputRequest = mt.CreateMessageRequest | mt.ElicitRequest | mt.ListRootsRequest
InputResponse = (
    mt.CreateMessageResult | mt.CreateMessageResultWithTools | mt.ElicitResult | mt.ListRootsResult
)


class InputNeeded(Exception):
    """Raised by :func:`ask` on the modern era: the tool must answer with ``result`` instead."""

    def __init__(self, result: mt.InputRequiredResult) -> None:
        super().__init__("client input required")
        self.result = result


def is_modern(ctx: Context) -> bool:
    rc = ctx.request_context
    return rc is not None and rc.protocol_version in MODERN_PROTOCOL_VERSIONS


def _declared(ctx: Context, capability: Capability) -> bool:
    caps = ctx.session.client_capabilities
    return caps is not None and getattr(caps, capability) is not None


def require(ctx: Context, capability: Capability) -> None:
    """Refuse a request that needs a capability the client did not declare (-32021 on the modern era)."""
    if _declared(ctx, capability):
        return
    if is_modern(ctx):
        data = mt.MissingRequiredClientCapabilityErrorData(
            required_capabilities=mt.ClientCapabilities.model_validate({capability: {}})
        )
        raise MCPError(
            code=mt.MISSING_REQUIRED_CLIENT_CAPABILITY,
            message=f"This request needs the {capability!r} client capability, which was not declared.",
            data=data.model_dump(by_alias=True, mode="json", exclude_none=True),
        )
    raise FixtureError(
        f"the client did not declare the {capability!r} capability",
        hint=f"Connect with a client that supports {capability}.",
    )


_RESULT_TYPES: dict[str, type[InputResponse]] = {
    "sampling/createMessage": mt.CreateMessageResult,
    "elicitation/create": mt.ElicitResult,
    "roots/list": mt.ListRootsResult,
}


async def ask(
    ctx: Context,
    requests: dict[str, InputRequest],
    *,
    request_state: str | None = None,
    state_ok: bool = True,
) -> dict[str, InputResponse]:
    """The client's answers to ``requests`` (by key), asking for whichever are still missing.

    On the modern era a missing answer raises :class:`InputNeeded` carrying the ``InputRequiredResult``
    to return, re-asking only what is missing (answers under unknown keys are ignored); with
    ``state_ok=False`` (the echoed ``requestState`` is not the one expected) everything is asked again.
    On the handshake era each request is sent to the client on this call's response stream and awaited.
    """
    if is_modern(ctx):
        given = dict(_input_responses(ctx) or {}) if state_ok else {}
        answers = {
            key: given[key] for key in requests if key in given and _answers(requests[key], given[key])
        }
        missing = {key: request for key, request in requests.items() if key not in answers}
        if missing:
            raise InputNeeded(mt.InputRequiredResult(input_requests=missing, request_state=request_state))
        return answers
    related = ServerMessageMetadata(related_request_id=ctx.request_id)
    try:
        return {
            key: await ctx.session.send_request(request, _RESULT_TYPES[request.method], metadata=related)
            for key, request in requests.items()
        }
    except NoBackChannelError as exc:
        raise UnavailableError(
            "this connection cannot carry server-to-client requests (stateless HTTP on a handshake-era "
            "protocol version)",
            hint="Connect with MCP 2026-07-28, or to a server with stateful sessions.",
        ) from exc


def _input_responses(ctx: Context) -> mt.InputResponses | None:
    try:
        return ctx.input_responses
    except ValidationError as exc:
        raise InputError(
            f"inputResponses is malformed: {exc.errors()[0].get('msg', 'invalid value')}",
            hint="Send each answer as the result object of the request it answers (e.g. an ElicitResult).",
        ) from exc


def _answers(request: InputRequest, response: InputResponse) -> bool:
    expected = _RESULT_TYPES[request.method]
    if expected is mt.CreateMessageResult:
        return isinstance(response, mt.CreateMessageResult | mt.CreateMessageResultWithTools)
    return isinstance(response, expected)


def elicit_request(message: str, schema: dict[str, Any]) -> mt.ElicitRequest:
    return mt.ElicitRequest(params=mt.ElicitRequestFormParams(message=message, requested_schema=schema))


def sampling_request(prompt: str, max_tokens: int) -> mt.CreateMessageRequest:
    message = mt.SamplingMessage(role="user", content=mt.TextContent(type="text", text=prompt))
    return mt.CreateMessageRequest(
        params=mt.CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    )


def roots_request() -> mt.ListRootsRequest:
    return mt.ListRootsRequest()


def sampled_text(result: InputResponse) -> str:
    """The text the client's model produced, from a sampling result."""
    if not isinstance(result, mt.CreateMessageResult | mt.CreateMessageResultWithTools):
        raise FixtureError("expected a sampling result", hint="Answer the sampling/createMessage request.")
    content: object = result.content
    blocks: list[object] = list(content) if isinstance(content, list) else [content]
    return " ".join(block.text for block in blocks if isinstance(block, mt.TextContent))


def elicited(result: InputResponse) -> mt.ElicitResult:
    if not isinstance(result, mt.ElicitResult):
        raise FixtureError("expected an elicitation result", hint="Answer the elicitation/create request.")
    return result


def elicitation_summary(result: mt.ElicitResult) -> str:
    content = json.dumps(result.content or {}, sort_keys=True, default=str)
    return f"action={result.action}, content={content}"
