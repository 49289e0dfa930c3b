"""Fixture tools and a prompt that need the client's input: sampling, elicitation and roots.

Each works on both eras through :func:`toolmesh.protocols.conformance.asking.ask`: a server→client
request on the handshake era, an ``InputRequiredResult`` round trip (SEP-2322) on 2026-07-28.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as mt
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult
from pydantic import Field

from toolmesh.protocols.conformance.asking import (
    InputNeeded,
    InputRequest,
    ask,
    elicit_request,
    elicitation_summary,
    elicited,
    require,
    roots_request,
    sampled_text,
    sampling_request,
)
from toolmesh.protocols.conformance.fixture_content import FixtureError

__all__ = ["add_asking"]

_ASKS = mt.ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=True)
Answer = ToolResult | mt.InputRequiredResult

NAME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}
COLOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"color": {"type": "string"}},
    "required": ["color"],
}
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
}
CONTACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    "required": ["username", "email"],
}
DEFAULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True},
    },
}
ENUMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
}


def _text(value: str) -> ToolResult:
    return ToolResult(content=[mt.TextContent(type="text", text=value)])


def _state(ctx: Context) -> dict[str, Any]:
    """The plaintext request state this server minted on an earlier round (the SDK verified its seal)."""
    raw = ctx.request_state
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)


def add_asking(server: FastMCP[Any]) -> None:
    """Register the tools and the prompt that ask the client for input."""
    _add_back_channel_tools(server)
    _add_input_required_tools(server)

    @server.prompt
    async def test_input_required_result_prompt(ctx: Context) -> mt.InputRequiredResult | str:
        """A prompt that first asks the client (elicitation) what context it should use."""
        try:
            answers = await ask(
                ctx,
                {
                    "user_context": elicit_request(
                        "What context should the prompt use?",
                        {
                            "type": "object",
                            "properties": {"context": {"type": "string"}},
                            "required": ["context"],
                        },
                    )
                },
            )
        except InputNeeded as need:
            return need.result
        content = elicited(answers["user_context"]).content or {}
        return f"Use this context: {content.get('context', '')}"


def _add_back_channel_tools(server: FastMCP[Any]) -> None:
    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_sampling(
        ctx: Context, prompt: str = Field(description="The prompt to send to the LLM", max_length=10_000)
    ) -> Answer:
        """Asks the client's LLM (sampling/createMessage) and returns its answer."""
        require(ctx, "sampling")
        try:
            answers = await ask(ctx, {"sampling": sampling_request(prompt, 100)})
        except InputNeeded as need:
            return need.result
        return _text(f"LLM response: {sampled_text(answers['sampling'])}")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_elicitation(
        ctx: Context, message: str = Field(description="The message to show the user", max_length=10_000)
    ) -> Answer:
        """Asks the user for a username and an email (elicitation/create)."""
        require(ctx, "elicitation")
        try:
            answers = await ask(ctx, {"contact": elicit_request(message, CONTACT_SCHEMA)})
        except InputNeeded as need:
            return need.result
        result = elicited(answers["contact"])
        return _text(f"User response: <{elicitation_summary(result)}>")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_elicitation_sep1034_defaults(ctx: Context) -> Answer:
        """Elicitation whose schema has a default for every primitive type (SEP-1034)."""
        return await _elicit_and_report(
            ctx, "Please review and update the form fields with defaults", DEFAULTS_SCHEMA
        )

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_elicitation_sep1330_enums(ctx: Context) -> Answer:
        """Elicitation with the five enum shapes of SEP-1330."""
        return await _elicit_and_report(ctx, "Please select options from the enum fields", ENUMS_SCHEMA)

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_missing_capability(ctx: Context) -> Answer:
        """Needs the client's sampling capability; without it the request is refused (-32021)."""
        require(ctx, "sampling")
        try:
            answers = await ask(ctx, {"sample": sampling_request("Say hello.", 20)})
        except InputNeeded as need:
            return need.result
        return _text(f"Sampled: {sampled_text(answers['sample'])}")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_streaming_elicitation(ctx: Context) -> Answer:
        """Asks for input mid-call: an InputRequiredResult on 2026-07-28, never a stray request."""
        require(ctx, "elicitation")
        try:
            answers = await ask(ctx, {"user_name": elicit_request("What is your name?", NAME_SCHEMA)})
        except InputNeeded as need:
            return need.result
        return _text(f"Hello, {_name(answers['user_name'])}!")


async def _elicit_and_report(ctx: Context, message: str, schema: dict[str, Any]) -> Answer:
    require(ctx, "elicitation")
    try:
        answers = await ask(ctx, {"form": elicit_request(message, schema)})
    except InputNeeded as need:
        return need.result
    return _text(f"Elicitation completed: {elicitation_summary(elicited(answers['form']))}")


def _name(result: Any) -> str:
    content = elicited(result).content or {}
    return str(content.get("name", "")).strip() or "stranger"


def _add_input_required_tools(server: FastMCP[Any]) -> None:
    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_elicitation(ctx: Context) -> Answer:
        """Asks the user's name, then greets them."""
        try:
            answers = await ask(ctx, {"user_name": elicit_request("What is your name?", NAME_SCHEMA)})
        except InputNeeded as need:
            return need.result
        return _text(f"Hello, {_name(answers['user_name'])}!")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_sampling(ctx: Context) -> Answer:
        """Asks the client's LLM a question and returns its answer."""
        try:
            answers = await ask(
                ctx, {"capital_question": sampling_request("What is the capital of France?", 100)}
            )
        except InputNeeded as need:
            return need.result
        return _text(f"The model answered: {sampled_text(answers['capital_question'])}")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_list_roots(ctx: Context) -> Answer:
        """Asks the client for its roots and lists them."""
        try:
            answers = await ask(ctx, {"client_roots": roots_request()})
        except InputNeeded as need:
            return need.result
        roots = answers["client_roots"]
        if not isinstance(roots, mt.ListRootsResult):
            raise FixtureError("expected a roots/list result", hint="Answer the roots/list request.")
        listed = ", ".join(str(root.uri) for root in roots.roots) or "(none)"
        return _text(f"Client roots: {listed}")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_request_state(ctx: Context) -> Answer:
        """Round-trips a sealed requestState and confirms it came back intact ("state-ok")."""
        expected = _dump({"tool": "request_state", "round": 1})
        try:
            answers = await ask(
                ctx,
                {"confirm": elicit_request("Please confirm", CONFIRM_SCHEMA)},
                request_state=expected,
                state_ok=ctx.request_state == expected,
            )
        except InputNeeded as need:
            return need.result
        confirmed = (elicited(answers["confirm"]).content or {}).get("ok")
        return _text(f"state-ok: the request state came back intact; confirmed={confirmed}")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_multiple_inputs(ctx: Context) -> Answer:
        """Asks for a name (elicitation), a greeting (sampling) and the roots in one round."""
        requests: dict[str, InputRequest] = {
            "user_name": elicit_request("What is your name?", NAME_SCHEMA),
            "greeting": sampling_request("Generate a greeting", 50),
            "client_roots": roots_request(),
        }
        try:
            answers = await ask(ctx, requests, request_state=_dump({"tool": "multiple_inputs"}))
        except InputNeeded as need:
            return need.result
        roots = answers["client_roots"]
        count = len(roots.roots) if isinstance(roots, mt.ListRootsResult) else 0
        return _text(
            f"{sampled_text(answers['greeting'])} {_name(answers['user_name'])} ({count} root(s) received)"
        )

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_multi_round(ctx: Context) -> Answer:
        """Two rounds of questions; the second round's requestState carries the first answer."""
        state = _state(ctx)
        try:
            if state.get("round") == 2 and isinstance(state.get("name"), str):
                name = str(state["name"])
            else:
                first = await ask(
                    ctx,
                    {"step1": elicit_request("Step 1: What is your name?", NAME_SCHEMA)},
                    request_state=_dump({"round": 1}),
                )
                name = _name(first["step1"])
            second = await ask(
                ctx,
                {"step2": elicit_request("Step 2: What is your favorite color?", COLOR_SCHEMA)},
                request_state=_dump({"round": 2, "name": name}),
            )
        except InputNeeded as need:
            return need.result
        color = (elicited(second["step2"]).content or {}).get("color", "")
        return _text(f"Thanks {name}, your favorite color is {color}.")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_tampered_state(ctx: Context) -> Answer:
        """Issues an integrity-protected requestState; a tampered echo is rejected before this runs."""
        expected = _dump({"tool": "tampered_state"})
        try:
            answers = await ask(
                ctx,
                {"confirm": elicit_request("Please confirm", CONFIRM_SCHEMA)},
                request_state=expected,
                state_ok=ctx.request_state == expected,
            )
        except InputNeeded as need:
            return need.result
        return _text(f"state verified; confirmed={(elicited(answers['confirm']).content or {}).get('ok')}")

    @server.tool(annotations=_ASKS, output_schema=None)
    async def test_input_required_result_capabilities(ctx: Context) -> Answer:
        """Asks only for what the client declared it can answer (elicitation, sampling, roots)."""
        caps = ctx.session.client_capabilities
        requests: dict[str, InputRequest] = {}
        if caps is not None and caps.elicitation is not None:
            requests["user_name"] = elicit_request("What is your name?", NAME_SCHEMA)
        if caps is not None and caps.sampling is not None:
            requests["greeting"] = sampling_request("Generate a greeting", 50)
        if caps is not None and caps.roots is not None:
            requests["client_roots"] = roots_request()
        if not requests:
            return _text("The client declared no elicitation, sampling or roots capability; nothing to ask.")
        try:
            answers = await ask(ctx, requests)
        except InputNeeded as need:
            return need.result
        return _text(f"Received answers for: {', '.join(sorted(answers))}")
