"""The conformance fixture in process (fastmcp.Client, in-memory): names, payloads and both eras."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import anyio
import mcp_types as mt
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from mcp import MCPDeprecationWarning, MCPError

from toolmesh.protocols.conformance.fixture import SPEC, FixtureSettings, build_server
from toolmesh.protocols.conformance.fixture_events import (
    DYNAMIC_PROMPT,
    DYNAMIC_TOOL,
    MAX_SUBSCRIPTIONS_PER_SESSION,
    SessionSubscriptions,
)
from toolmesh.protocols.conformance.media import PNG_BYTES, WAV_BYTES
from toolmesh.protocols.errors import LimitExceeded

# What @modelcontextprotocol/conformance 0.2.0-alpha.12 calls (see docs/fixture.md).
SUITE_TOOLS = {
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
    "test_tool_with_logging",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "json_schema_2020_12_tool",
    "test_missing_capability",
    "test_streaming_elicitation",
    "test_logging_tool",
    "test_trigger_tool_change",
    "test_trigger_prompt_change",
    "test_input_required_result_elicitation",
    "test_input_required_result_sampling",
    "test_input_required_result_list_roots",
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
}
SUITE_PROMPTS = {
    "test_simple_prompt",
    "test_prompt_with_arguments",
    "test_prompt_with_embedded_resource",
    "test_prompt_with_image",
    "test_input_required_result_prompt",
}
SUITE_RESOURCES = {"test://static-text", "test://static-binary", "test://watched-resource"}


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, mt.TextContent))


async def _elicit_alice(message: str, response_type: Any, params: Any, context: Any) -> dict[str, Any]:
    schema = params.requested_schema
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    answer: dict[str, Any] = {}
    if "name" in properties:
        answer["name"] = "Alice"
    if "color" in properties:
        answer["color"] = "teal"
    if "ok" in properties:
        answer["ok"] = True
    if "context" in properties:
        answer["context"] = "release notes"
    if "username" in properties:
        answer.update(username="alice", email="alice@example.com")
    return answer


async def _sample(messages: Any, params: Any, context: Any) -> str:
    return "Paris"


@pytest.mark.asyncio
async def test_spec_and_settings() -> None:
    assert SPEC.name == "fixture"
    assert SPEC.in_gateway is False
    settings = SPEC.load_settings(transport="http", port=0)
    assert isinstance(settings, FixtureSettings)
    assert settings.stateless is False and settings.json_response is False  # the 2025-11-25 suite needs both
    with pytest.raises(ValueError, match="at least 32 bytes"):
        FixtureSettings(request_state_keys=["short"])


def test_request_state_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_FIXTURE_REQUEST_STATE_KEYS", json.dumps(["k" * 40, "o" * 40]))
    monkeypatch.setenv("TOOLMESH_FIXTURE_STATELESS", "true")
    settings = FixtureSettings()
    assert [key.get_secret_value() for key in settings.request_state_keys] == ["k" * 40, "o" * 40]
    assert settings.stateless is True
    assert "k" * 40 not in repr(settings)  # secrets stay out of logs


@pytest.mark.asyncio
async def test_lists_what_the_suite_calls() -> None:
    with anyio.fail_after(20):
        async with Client(build_server()) as client:
            tools = {tool.name: tool for tool in await client.list_tools()}
            prompts = {prompt.name: prompt for prompt in await client.list_prompts()}
            resources = {str(resource.uri) for resource in await client.list_resources()}
            templates = {template.uri_template for template in await client.list_resource_templates()}
    assert set(tools) >= SUITE_TOOLS
    assert set(prompts) >= SUITE_PROMPTS
    assert resources >= SUITE_RESOURCES
    assert "test://template/{id}/data" in templates
    assert all(tool.description for tool in tools.values())
    assert all(prompt.description for prompt in prompts.values())
    schema = tools["json_schema_2020_12_tool"].input_schema
    # Not dereferenced: the 2020-12 keywords reach the client as written.
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["address"] == {"$ref": "#/$defs/address"}
    assert schema["$defs"]["address"]["$anchor"] == "addressDef"
    assert {"if", "then", "else", "allOf"} <= set(schema)
    assert schema["additionalProperties"] is False


@pytest.mark.asyncio
async def test_content_tools() -> None:
    with anyio.fail_after(20):
        async with Client(build_server()) as client:
            simple = await client.call_tool("test_simple_text", {})
            image = await client.call_tool("test_image_content", {})
            audio = await client.call_tool("test_audio_content", {})
            embedded = await client.call_tool("test_embedded_resource", {})
            mixed = await client.call_tool("test_multiple_content_types", {})
            failed = await client.call_tool("test_error_handling", {}, raise_on_error=False)
    assert _text(simple) == "This is a simple text response for testing."
    png = image.content[0]
    assert isinstance(png, mt.ImageContent) and png.mime_type == "image/png"
    raw = base64.b64decode(png.data)
    assert raw == PNG_BYTES and raw.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", raw[16:24])
    assert (width, height) == (1, 1)
    assert zlib.decompress(raw[41 : 41 + struct.unpack(">I", raw[33:37])[0]]) == b"\x00\xff\x00\x00"
    wav = audio.content[0]
    assert isinstance(wav, mt.AudioContent) and wav.mime_type == "audio/wav"
    assert base64.b64decode(wav.data) == WAV_BYTES and WAV_BYTES[:4] == b"RIFF" and WAV_BYTES[8:12] == b"WAVE"
    block = embedded.content[0]
    assert isinstance(block, mt.EmbeddedResource) and str(block.resource.uri) == "test://embedded-resource"
    assert [type(b).__name__ for b in mixed.content] == ["TextContent", "ImageContent", "EmbeddedResource"]
    assert failed.is_error and _text(failed) == "This tool intentionally returns an error for testing"


@pytest.mark.asyncio
async def test_resources_prompts_and_completion() -> None:
    with anyio.fail_after(20):
        async with Client(build_server()) as client:
            text = await client.read_resource("test://static-text")
            blob = await client.read_resource("test://static-binary")
            templated = await client.read_resource("test://template/42/data")
            prompt = await client.get_prompt("test_prompt_with_arguments", {"arg1": "hello", "arg2": "world"})
            embedded = await client.get_prompt(
                "test_prompt_with_embedded_resource", {"resourceUri": "test://x"}
            )
            completion = await client.complete(
                mt.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
                {"name": "arg1", "value": "par"},
            )
    assert isinstance(text[0], mt.TextResourceContents) and text[0].text.startswith("This is the content")
    assert isinstance(blob[0], mt.BlobResourceContents) and base64.b64decode(blob[0].blob) == PNG_BYTES
    assert isinstance(templated[0], mt.TextResourceContents)
    assert json.loads(templated[0].text) == {"id": "42", "templateTest": True, "data": "Data for ID: 42"}
    first = prompt.messages[0].content
    assert (
        isinstance(first, mt.TextContent)
        and first.text == "Prompt with arguments: arg1='hello', arg2='world'"
    )
    resource = embedded.messages[0].content
    assert isinstance(resource, mt.EmbeddedResource) and str(resource.resource.uri) == "test://x"
    assert completion.values == ["paris", "park", "party"]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_asking_tools_on_both_eras(mode: str) -> None:
    """Modern era: InputRequiredResult round trips driven by the client; legacy: server→client requests."""
    with anyio.fail_after(30):
        async with Client(
            build_server(),
            mode=mode,
            elicitation_handler=_elicit_alice,
            sampling_handler=_sample,
            roots=["file:///work/project"],
        ) as client:
            assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            greeting = await client.call_tool("test_input_required_result_elicitation", {})
            sampled = await client.call_tool("test_sampling", {"prompt": "Capital of France?"})
            multi = await client.call_tool("test_input_required_result_multi_round", {})
            several = await client.call_tool("test_input_required_result_multiple_inputs", {})
            contact = await client.call_tool("test_elicitation", {"message": "Who are you?"})
    assert _text(greeting) == "Hello, Alice!"
    assert _text(sampled) == "LLM response: Paris"
    assert _text(multi) == "Thanks Alice, your favorite color is teal."
    assert _text(several) == "Paris Alice (1 root(s) received)"
    assert '"email": "alice@example.com"' in _text(contact) and "action=accept" in _text(contact)


@pytest.mark.asyncio
async def test_request_state_round_trip_and_prompt() -> None:
    with anyio.fail_after(30):
        async with Client(build_server(), elicitation_handler=_elicit_alice) as client:
            state = await client.call_tool("test_input_required_result_request_state", {})
            prompt = await client.get_prompt("test_input_required_result_prompt")
    assert "state-ok" in _text(state)
    content = prompt.messages[0].content
    assert isinstance(content, mt.TextContent) and content.text == "Use this context: release notes"


@pytest.mark.asyncio
async def test_missing_capability_is_refused_on_the_modern_era() -> None:
    with anyio.fail_after(20):
        async with Client(build_server()) as client:  # no sampling handler: sampling is not declared
            with pytest.raises(MCPError) as caught:
                await client.call_tool("test_missing_capability", {})
    assert caught.value.error.code == mt.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert caught.value.error.data == {"requiredCapabilities": {"sampling": {}}}


@pytest.mark.asyncio
async def test_missing_capability_is_a_tool_error_on_the_legacy_era() -> None:
    with anyio.fail_after(20):
        async with Client(build_server(), mode="legacy") as client:
            with pytest.raises(ToolError, match="did not declare the 'sampling' capability"):
                await client.call_tool("test_missing_capability", {})


@pytest.mark.asyncio
async def test_triggers_really_change_the_lists() -> None:
    with anyio.fail_after(20):
        async with Client(build_server()) as client:
            assert DYNAMIC_TOOL not in {tool.name for tool in await client.list_tools()}
            await client.call_tool("test_trigger_tool_change", {})
            assert DYNAMIC_TOOL in {tool.name for tool in await client.list_tools()}
            assert _text(await client.call_tool(DYNAMIC_TOOL, {})) == "dynamic tool called"
            await client.call_tool("test_trigger_tool_change", {})
            assert DYNAMIC_TOOL not in {tool.name for tool in await client.list_tools()}
            await client.call_tool("test_trigger_prompt_change", {})
            assert DYNAMIC_PROMPT in {prompt.name for prompt in await client.list_prompts()}
            await client.call_tool("test_trigger_prompt_change", {})
            assert DYNAMIC_PROMPT not in {prompt.name for prompt in await client.list_prompts()}


@pytest.mark.asyncio
async def test_json_schema_tool_validates_its_own_schema() -> None:
    with anyio.fail_after(20):
        async with Client(build_server()) as client:
            ok = await client.call_tool(
                "json_schema_2020_12_tool", {"contactMethod": "email", "email": "a@b.c"}
            )
            bad = await client.call_tool(
                "json_schema_2020_12_tool", {"contactMethod": "phone", "email": "a@b.c"}, raise_on_error=False
            )
    assert _text(ok) == "ok"
    assert bad.is_error and "phone" in _text(bad)


@pytest.mark.asyncio
async def test_legacy_resource_subscriptions() -> None:
    seen: list[Any] = []

    async def on_message(message: Any) -> None:
        seen.append(message)

    with anyio.fail_after(20):
        async with Client(build_server(), mode="legacy", message_handler=on_message) as client:
            before = await client.call_tool("test_update_watched_resource", {})
            with pytest.warns(MCPDeprecationWarning):
                await client.session.subscribe_resource("test://watched-resource")
            during = await client.call_tool("test_update_watched_resource", {})
            with pytest.warns(MCPDeprecationWarning):
                await client.session.unsubscribe_resource("test://watched-resource")
            after = await client.call_tool("test_update_watched_resource", {})
    assert "was not notified" in _text(before)
    assert "was notified" in _text(during)
    assert "was not notified" in _text(after)
    updates = [m for m in seen if isinstance(m, mt.ResourceUpdatedNotification)]
    assert [str(m.params.uri) for m in updates] == ["test://watched-resource"]


def test_session_subscriptions_are_bounded() -> None:
    subscriptions = SessionSubscriptions(max_sessions=2)
    for session in ("a", "b", "c"):
        subscriptions.subscribe(session, "test://watched-resource")
    assert not subscriptions.is_subscribed("a", "test://watched-resource")  # the oldest session was forgotten
    assert subscriptions.is_subscribed("c", "test://watched-resource")
    for n in range(MAX_SUBSCRIPTIONS_PER_SESSION - 1):
        subscriptions.subscribe("c", f"test://r/{n}")
    with pytest.raises(LimitExceeded, match="at most 256"):
        subscriptions.subscribe("c", "test://one-too-many")
    subscriptions.unsubscribe("b", "test://watched-resource")
    assert not subscriptions.is_subscribed("b", "test://watched-resource")
