"""The conformance fixture's plain content: tools, resources, prompts and completions.

Everything here answers the same on both protocol eras. Names, texts and shapes are the ones the
official suite (``@modelcontextprotocol/conformance``) asks for, scenario by scenario.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as mt
from fastmcp import Context, FastMCP
from fastmcp.prompts import Message, PromptResult
from fastmcp.tools import Tool, ToolResult
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # mcp depends on it; no stubs
from pydantic import Field

from toolmesh.protocols.conformance.media import PNG_BASE64, PNG_BYTES, WAV_BASE64
from toolmesh.protocols.errors import InputError, ToolmeshError

__all__ = [
    "JSON_SCHEMA_2020_12",
    "SIMPLE_TEXT",
    "FixtureError",
    "JsonSchema202012Tool",
    "add_content",
]

SIMPLE_TEXT = "This is a simple text response for testing."
ERROR_TEXT = "This tool intentionally returns an error for testing"
STATIC_TEXT = "This is the content of the static text resource."
EMBEDDED_TEXT = "This is an embedded resource content."
PROMPT_EMBEDDED_TEXT = "Embedded resource content for testing."

_READ_ONLY = mt.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

# Kept verbatim on the wire (the server is built with dereference_schemas=False): $schema, $defs with an
# $anchor, $ref, allOf/anyOf, if/then/else and additionalProperties are what SEP-1613/SEP-2106 check.
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


class FixtureError(ToolmeshError):
    """An error the fixture raises on purpose (the suite checks how it reaches the client)."""


class JsonSchema202012Tool(Tool):
    """A tool whose input schema is hand-written JSON Schema 2020-12, validated as such."""

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        validator = Draft202012Validator(self.parameters)
        problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        if problems:
            first = problems[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(arguments)"
            raise InputError(
                f"invalid arguments at {where}: {first.message}",
                hint="Send an object matching the tool's inputSchema (phone or email is required).",
            )
        return ToolResult(content=[mt.TextContent(type="text", text="ok")])


def _text(value: str) -> mt.TextContent:
    return mt.TextContent(type="text", text=value)


def _image() -> mt.ImageContent:
    return mt.ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")


def add_content(server: FastMCP[Any]) -> None:
    """Register the era-independent tools, resources, prompts and the completion handler."""
    _add_tools(server)
    _add_resources(server)
    _add_prompts(server)

    @server.completion
    def complete(
        ref: mt.PromptReference | mt.ResourceTemplateReference,
        argument: mt.CompletionArgument,
        context: mt.CompletionContext | None,
    ) -> list[str]:
        options: dict[str, list[str]] = {
            "arg1": ["paris", "park", "party"],
            "arg2": ["world", "wonder", "water"],
            "id": ["123", "456", "789"],
        }
        return [value for value in options.get(argument.name, []) if value.startswith(argument.value)]


def _add_tools(server: FastMCP[Any]) -> None:
    @server.tool(annotations=_READ_ONLY)
    async def test_simple_text() -> ToolResult:
        """Returns one fixed text block."""
        return ToolResult(content=[_text(SIMPLE_TEXT)])

    @server.tool(annotations=_READ_ONLY)
    async def test_image_content() -> ToolResult:
        """Returns a 1x1 red PNG."""
        return ToolResult(content=[_image()])

    @server.tool(annotations=_READ_ONLY)
    async def test_audio_content() -> ToolResult:
        """Returns a short silent WAV."""
        return ToolResult(content=[mt.AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")])

    @server.tool(annotations=_READ_ONLY)
    async def test_embedded_resource() -> ToolResult:
        """Returns an embedded text resource."""
        resource = mt.TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text=EMBEDDED_TEXT
        )
        return ToolResult(content=[mt.EmbeddedResource(type="resource", resource=resource)])

    @server.tool(annotations=_READ_ONLY)
    async def test_multiple_content_types() -> ToolResult:
        """Returns text, an image and an embedded JSON resource in one result."""
        resource = mt.TextResourceContents(
            uri="test://mixed-content-resource",
            mime_type="application/json",
            text=json.dumps({"test": "data", "value": 123}, separators=(",", ":")),
        )
        return ToolResult(
            content=[
                _text("Multiple content types test:"),
                _image(),
                mt.EmbeddedResource(type="resource", resource=resource),
            ]
        )

    @server.tool(annotations=_READ_ONLY)
    async def test_error_handling() -> ToolResult:
        """Always fails, as a tool error (isError: true), never as a protocol error."""
        raise FixtureError(ERROR_TEXT)

    @server.tool(annotations=_READ_ONLY)
    async def test_tool_with_logging(ctx: Context) -> ToolResult:
        """Sends three info log notifications about 50 ms apart (only when the client asked for logs)."""
        for step, message in enumerate(
            ("Tool execution started", "Tool processing data", "Tool execution completed")
        ):
            if step:
                await anyio.sleep(0.05)
            await ctx.log(message, level="info", logger_name="conformance")
        return ToolResult(content=[_text("Tool with logging executed successfully")])

    @server.tool(annotations=_READ_ONLY)
    async def test_tool_with_progress(ctx: Context) -> ToolResult:
        """Reports progress 0, 50 and 100 of 100 about 50 ms apart (when the request carries a token)."""
        for step, done in enumerate((0, 50, 100)):
            if step:
                await anyio.sleep(0.05)
            await ctx.report_progress(done, 100, f"{done}% done")
        return ToolResult(content=[_text("Tool with progress executed successfully")])

    @server.tool(annotations=_READ_ONLY)
    async def test_echo(
        text: str = Field(description="Text to echo back.", max_length=10_000),
        times: int = Field(default=1, ge=1, le=10, description="How many times to repeat it."),
    ) -> str:
        """Echoes text a number of times (typed, bounded arguments; used by toolmesh's own wire tests)."""
        return " ".join([text] * times)

    @server.tool(annotations=_READ_ONLY)
    async def test_header_param(
        region: str = Field(
            description="Also sent as the Mcp-Param-Region header (SEP-2243); both must agree.",
            max_length=200,
            json_schema_extra={"x-mcp-header": "Region"},
        ),
    ) -> str:
        """Echoes a parameter that HTTP clients mirror into a header, so proxies can route on it."""
        return f"region={region}"

    server.add_tool(
        JsonSchema202012Tool(
            name="json_schema_2020_12_tool",
            description="Tool with JSON Schema 2020-12 features",
            parameters=JSON_SCHEMA_2020_12,
            annotations=_READ_ONLY,
        )
    )


def _add_resources(server: FastMCP[Any]) -> None:
    @server.resource("test://static-text", name="static-text", mime_type="text/plain")
    async def static_text() -> str:
        """A fixed text resource."""
        return STATIC_TEXT

    @server.resource("test://static-binary", name="static-binary", mime_type="image/png")
    async def static_binary() -> bytes:
        """A 1x1 PNG, served as a blob."""
        return PNG_BYTES

    @server.resource("test://watched-resource", name="watched-resource", mime_type="text/plain")
    async def watched_resource() -> str:
        """A resource clients may subscribe to; test_update_watched_resource announces changes to it."""
        return "Watched resource content."

    @server.resource("test://template/{id}/data", name="template-data", mime_type="application/json")
    async def template_data(id: str) -> str:
        """JSON data for one id, substituted from the URI."""
        return json.dumps(
            {"id": id, "templateTest": True, "data": f"Data for ID: {id}"}, separators=(",", ":")
        )


def _add_prompts(server: FastMCP[Any]) -> None:
    @server.prompt
    def test_simple_prompt() -> str:
        """A prompt without arguments."""
        return "This is a simple prompt for testing."

    @server.prompt
    def test_prompt_with_arguments(
        arg1: str = Field(description="First test argument"),
        arg2: str = Field(description="Second test argument"),
    ) -> str:
        """A prompt with two required arguments."""
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @server.prompt
    def test_prompt_with_embedded_resource(
        resourceUri: str = Field(description="URI of the resource to embed"),
    ) -> PromptResult:
        """A prompt that embeds a text resource."""
        resource = mt.TextResourceContents(uri=resourceUri, mime_type="text/plain", text=PROMPT_EMBEDDED_TEXT)
        return PromptResult(
            messages=[
                Message(mt.EmbeddedResource(type="resource", resource=resource), role="user"),
                Message("Please process the embedded resource above.", role="user"),
            ]
        )

    @server.prompt
    def test_prompt_with_image() -> PromptResult:
        """A prompt that carries an image."""
        return PromptResult(
            messages=[
                Message(_image(), role="user"),
                Message("Please analyze the image above.", role="user"),
            ]
        )
