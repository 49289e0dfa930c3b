"""The gateway in a running mesh: two endpoints configured through the agents' settings, the second
taking over when the first answers 429s, usage in the task's outcome and in the planner's /metrics, and
the task saying why no model answer was used when every endpoint fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver
from a2a.types import Part

from tests.agents.fixtures import echo_server
from toolmesh.agents.client import ask_planner
from toolmesh.agents.mesh import launch_mesh
from toolmesh.agents.scripted import Reply, ScriptedModel, scripted_server
from toolmesh.agents.wire import Outcome, artifact_json, new_message, stream_message, text_of


def _mesh_script(body: dict[str, Any]) -> Reply:
    messages = body["messages"]
    system = str(messages[0]["content"])
    if system.startswith("You write the final answer"):
        return Reply.text('The server echoed "from the model" [1].')
    if body.get("tools"):
        if any(m["role"] == "tool" for m in messages):
            return Reply.text("echoed")
        return Reply.calls(("echo__echo", {"text": "from the model"}))
    return Reply.text(json.dumps({"approved": True, "issues": [], "suggestions": []}))


def _model(*urls: str) -> dict[str, Any]:
    endpoints = [
        {"base_url": url, "model": name, "name": name, "retries": 0}
        for url, name in zip(urls, ["main", "backup"], strict=False)
    ]
    return {"model": {"endpoints": endpoints, "cache_url": "memory://"}}


@pytest.mark.asyncio
async def test_the_backup_endpoint_answers_and_usage_shows_in_the_task_and_metrics(tmp_path: Path) -> None:
    server, _ = echo_server("echo")
    limited = ScriptedModel(lambda body: Reply.fault(429, retry_after=30, message="quota"))
    backup = ScriptedModel(_mesh_script)
    with anyio.fail_after(120):
        async with scripted_server(limited) as main_url, scripted_server(backup) as backup_url:
            settings = _model(main_url, backup_url)
            async with launch_mesh(tmp_path, servers={"echo": server}, agent_settings=settings) as mesh:
                asked = await ask_planner(mesh.planner_url, "say something through the echo tool")
                async with httpx.AsyncClient() as http:
                    metrics = (await http.get(f"{mesh.planner_url}/metrics")).text
    assert asked.artifacts["answer"].parts[0].text == 'The server echoed "from the model" [1].'
    calls = artifact_json(asked.artifacts["outcome"])["model_calls"]
    assert [c["role"] for c in calls] == ["planner", "planner", "writer"]
    assert calls[0]["endpoint"] == "backup" and calls[0]["fallbacks"] == ["main"]
    assert calls[0]["prompt_tokens"] > 0
    assert (
        'toolmesh_model_fallbacks_total{endpoint="main",reason="error",role="planner"} 2.0' in metrics
    )  # both planner turns
    assert 'toolmesh_model_tokens_total{endpoint="backup",kind="prompt",role="planner"}' in metrics
    assert 'toolmesh_model_cache_total{result="miss",role="planner"}' in metrics


@pytest.mark.asyncio
async def test_the_model_cache_is_a_file_of_the_mesh_workdir(tmp_path: Path) -> None:
    """Not of the folder the mesh was started from (the default cache path is relative)."""
    server, _ = echo_server("echo")
    with anyio.fail_after(120):
        async with scripted_server(ScriptedModel(_mesh_script)) as url:
            settings = _model(url)
            del settings["model"]["cache_url"]
            async with launch_mesh(tmp_path, servers={"echo": server}, agent_settings=settings) as mesh:
                asked = await ask_planner(mesh.planner_url, "say something through the echo tool")
    assert asked.artifacts["answer"].parts[0].text == 'The server echoed "from the model" [1].'
    assert (tmp_path / "model-cache.db").is_file()
    assert not (Path.cwd() / "toolmesh-model-cache.db").exists()


@pytest.mark.asyncio
async def test_when_every_endpoint_fails_the_task_says_which_and_why(tmp_path: Path) -> None:
    server, _ = echo_server("echo")
    broken = ScriptedModel(lambda body: Reply.fault(500, message="model crashed"))
    with anyio.fail_after(120):
        async with scripted_server(broken) as url:
            settings = _model(url)
            async with launch_mesh(tmp_path, servers={"echo": server}, agent_settings=settings) as mesh:
                asked, stream = Outcome(), []
                async with httpx.AsyncClient(timeout=60) as http:
                    card = await A2ACardResolver(http, mesh.planner_url).get_agent_card()
                    message = new_message([Part(text="say something through the echo tool")])
                    async for event in stream_message(card, message, http=http):
                        asked.absorb(event)
                        if event.WhichOneof("payload") == "status_update":
                            stream.append(text_of(event.status_update.status.message.parts))
    outcome = artifact_json(asked.artifacts["outcome"])
    (note,) = [n for n in outcome["notes"] if n.startswith("model skipped")]
    assert "every model endpoint for the planner role failed: main:" in note and "HTTP 500" in note
    assert "planning deterministically" in note
    assert f"[planner] {note}" in stream  # the stream says so too, not only stderr


def _json_only(body: dict[str, Any]) -> Reply:
    """An endpoint that never calls tools: the planner must use the JSON protocol with it."""
    messages = body["messages"]
    system = str(messages[0]["content"])
    if system.startswith("You write the final answer"):
        return Reply.text('The server echoed "from the model" [1].')
    if "no native tool calling" in system:
        if any(m["role"] == "tool" for m in messages):
            return Reply.text(json.dumps({"answer": "echoed"}))
        return Reply.text(
            json.dumps({"calls": [{"tool": "echo__echo", "arguments": {"text": "from the model"}}]})
        )
    if system.startswith("You answer questions with tools"):
        raise AssertionError("the planner sent native tools to an endpoint probed without tool calling")
    return Reply.text(json.dumps({"approved": True, "issues": [], "suggestions": []}))  # probes, reviewer


@pytest.mark.asyncio
async def test_a_probed_endpoint_without_tool_calling_drives_the_planner_by_the_json_protocol(
    tmp_path: Path,
) -> None:
    server, _ = echo_server("echo")
    plain = ScriptedModel(_json_only)
    with anyio.fail_after(120):
        async with scripted_server(plain) as url:
            settings = _model(url)
            settings["model"]["probe"] = True
            async with launch_mesh(tmp_path, servers={"echo": server}, agent_settings=settings) as mesh:
                asked = await ask_planner(mesh.planner_url, "say something through the echo tool")
    assert asked.artifacts["answer"].parts[0].text == 'The server echoed "from the model" [1].'
    planner = [b for b in plain.requests if "no native tool calling" in str(b["messages"][0]["content"])]
    assert len(planner) == 2 and all("tools" not in b for b in planner)
    assert planner[0]["response_format"] == {"type": "json_object"}
