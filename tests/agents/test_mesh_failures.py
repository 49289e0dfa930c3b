"""Failures across the mesh over real HTTP: an MCP server going down (fallback, or a clear failure),
cancellation from the caller, and an executor killed mid-task."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.server.context import ServerCallContext
from a2a.types import CancelTaskRequest, ListTasksRequest, StreamResponse, TaskState
from fastmcp import FastMCP

from tests.agents.fixtures import echo_server
from toolmesh.agents.client import ask_planner
from toolmesh.agents.mesh import MeshHandle, launch_mesh, run_agent
from toolmesh.agents.model import ChatResult, ModelCall, Role, ToolSpec
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.wire import Outcome, artifact_json, json_part, new_message, stream_message
from toolmesh.protocols.registration import server_entry
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.serving import bind_socket, mcp_http_app, running
from toolmesh.protocols.settings import AuthSettings, ServingSettings, TokenGrant, hash_token

ECHO = 'Echo back the text "hello mesh"'
FAST = {"backoff": 0.02, "max_rounds": 2}
AUTH = {
    "auth": AuthSettings(tokens={hash_token("mesh-token"): TokenGrant(client_id="mesh")}),
    "peer_token": "mesh-token",
}


@contextlib.asynccontextmanager
async def served(mesh: MeshHandle, name: str, server: FastMCP[Any]) -> AsyncIterator[str]:
    """Serve ``server`` over HTTP and register it under ``name`` until the block exits."""
    # A short graceful timeout: clients keep connections open, and these servers are stopped mid-test.
    settings = ServingSettings(transport="http", port=0, graceful_timeout=0.5)
    async with running(mcp_http_app(server, settings), settings) as url:
        async with RegistryClient(mesh.registry_url, token=mesh.registry_token) as registry:
            await registry.register_server(await server_entry(name, f"{url}/mcp", server))
        yield f"{url}/mcp"


def _rounds(outcome: Outcome) -> list[dict[str, Any]]:
    names = sorted(
        (n for n in outcome.artifacts if n.startswith("round-") and "/" not in n), key=lambda n: int(n[6:])
    )
    return [artifact_json(outcome.artifacts[n]) for n in names]


def _steps(outcome: Outcome) -> list[dict[str, Any]]:
    return [artifact_json(a) for n, a in sorted(outcome.artifacts.items()) if "/step:" in n]


@pytest.mark.asyncio
async def test_a_server_going_down_falls_back_then_fails_clearly(tmp_path: Path) -> None:
    primary, primary_knobs = echo_server("echo")
    backup, backup_knobs = echo_server("echo")
    with anyio.fail_after(120):
        async with launch_mesh(tmp_path, servers={}, agent_settings=FAST) as mesh:
            async with served(mesh, "echo-backup", backup):
                async with served(mesh, "echo", primary):
                    warm = await ask_planner(mesh.planner_url, ECHO)  # every catalog now knows both servers
                assert warm.state == TaskState.TASK_STATE_COMPLETED
                assert primary_knobs.calls == 1 and backup_knobs.calls == 0
                # "echo" is down now: the executor retries it, then falls back to echo-backup.
                fallback = await ask_planner(mesh.planner_url, 'Echo back the text "second"')
            # Now the backup is down too: nothing can run the tool any more, and the task says so.
            failed = await ask_planner(mesh.planner_url, 'Echo back the text "third"')
    assert fallback.state == TaskState.TASK_STATE_COMPLETED, fallback.status_text
    step = _steps(fallback)[0]
    assert step["status"] == "ok" and step["server_name"] == "echo-backup"
    assert len(step["tried"]) == 2 and step["attempts"] >= 2
    assert backup_knobs.calls == 1
    assert failed.state == TaskState.TASK_STATE_FAILED
    assert "Not found" in failed.status_text and "failed on every server offering it" in failed.status_text


@pytest.mark.asyncio
async def test_cancelling_the_planner_task_cancels_the_executor_task(tmp_path: Path) -> None:
    slow, knobs = echo_server("slow")
    knobs.hang = True
    with anyio.fail_after(120):
        async with launch_mesh(tmp_path, servers={"slow": slow}) as mesh:
            events: list[StreamResponse] = []

            async def keep(event: StreamResponse) -> None:
                events.append(event)

            asking = asyncio.create_task(ask_planner(mesh.planner_url, ECHO, on_event=keep))
            await knobs.started.wait()  # the MCP call is in flight inside the executor
            task_id = next(e.task.id for e in events if e.WhichOneof("payload") == "task")
            context_id = next(e.task.context_id for e in events if e.WhichOneof("payload") == "task")
            planner = await create_client(mesh.planner_url, client_config=ClientConfig(streaming=False))
            async with planner:
                canceled = await planner.cancel_task(CancelTaskRequest(id=task_id))
            outcome = await asking
            knobs.release.set()  # let the server's stuck handler end so it shuts down promptly
            executor = await create_client(
                mesh.agents["executor"].url, client_config=ClientConfig(streaming=False)
            )
            async with executor:
                for _ in range(100):  # the executor's own cancel lands right after the planner's
                    listed = await executor.list_tasks(ListTasksRequest(context_id=context_id))
                    if listed.tasks and listed.tasks[0].status.state == TaskState.TASK_STATE_CANCELED:
                        break
                    await asyncio.sleep(0.05)
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    assert outcome.state == TaskState.TASK_STATE_CANCELED
    assert len(listed.tasks) == 1 and listed.tasks[0].status.state == TaskState.TASK_STATE_CANCELED


async def _registered_executors(registry_url: str) -> int:
    async with httpx.AsyncClient() as http:
        page = (await http.get(f"{registry_url}/api/v1/entries", params={"skill": "execute-plan"})).json()
    return len(page["items"])


@pytest.mark.slow
@pytest.mark.asyncio
async def test_an_executor_killed_mid_task_is_recorded_and_the_plan_resumes(tmp_path: Path) -> None:
    held, knobs = echo_server("held")
    knobs.hold_first = True
    with anyio.fail_after(180):
        async with launch_mesh(tmp_path, servers={"held": held}, roles=("reviewer", "planner")) as mesh:
            sock = bind_socket()
            port = sock.getsockname()[1]
            sock.close()
            killed_home = tmp_path / "killed"  # the killed executor's workdir: its id and its store
            env = {
                **os.environ,
                "TOOLMESH_AGENTS_REGISTRY_URL": mesh.registry_url,
                "TOOLMESH_AGENTS_REGISTRY_TOKEN": mesh.registry_token,
                "TOOLMESH_AGENTS_WORKDIR": str(killed_home),
            }
            command = [
                sys.executable,
                "-m",
                "toolmesh.protocols.cli",
                "agents",
                "serve",
                "executor",
                "--port",
                str(port),
            ]
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                while not await _registered_executors(
                    mesh.registry_url
                ):  # an external process: poll, bounded
                    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                    await asyncio.sleep(0.1)
                asking = asyncio.create_task(ask_planner(mesh.planner_url, ECHO))
                await knobs.started.wait()  # the plan is running inside the subprocess executor
                settings = AgentSettings(
                    registry_url=mesh.registry_url,
                    registry_token=mesh.registry_token,
                    workdir=tmp_path / "replacement",
                )
                async with run_agent("executor", settings):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                    knobs.release.set()
                    outcome = await asking
                # The killed executor started again over its workdir, on another port: it keeps its id,
                # so at start-up it marks the task it was running failed, with the reason.
                again = AgentSettings(
                    registry_url=mesh.registry_url, registry_token=mesh.registry_token, workdir=killed_home
                )
                async with run_agent("executor", again) as restarted:
                    recovered = list(restarted.agent.recovered)
                    task = await restarted.agent.store.get(recovered[0], ServerCallContext())
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
    assert outcome.state == TaskState.TASK_STATE_COMPLETED, outcome.status_text
    lost = _rounds(outcome)[0]["executors_lost"]
    assert len(lost) == 1 and f"127.0.0.1:{port}" in lost[0]
    assert restarted.url != f"http://127.0.0.1:{port}" and len(recovered) == 1
    assert task is not None and task.status.state == TaskState.TASK_STATE_FAILED
    assert task.status.message.parts[0].text.startswith("interrupted: the executor agent stopped")


class MeshModel:
    """A fake model for every role: calls the echo tool natively, writes, reviews."""

    def __init__(self) -> None:
        self.roles: list[str] = []

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        role: Role,
        tools: Sequence[ToolSpec] | None = None,
        json_mode: bool = False,
    ) -> ChatResult:
        self.roles.append(role)
        if role == "planner":
            if not any(m.get("role") == "tool" for m in messages):
                assert tools is not None and any(t.name == "echo__echo" for t in tools)
                return ChatResult(
                    tool_calls=[ModelCall(id="c1", name="echo__echo", arguments={"text": "from the model"})]
                )
            return ChatResult(content="echoed")
        if role == "writer":
            return ChatResult(content='The server echoed "from the model" [1].')
        return ChatResult(content=json.dumps({"approved": True, "issues": [], "suggestions": []}))


@pytest.mark.asyncio
async def test_a_configured_model_and_plans_sent_as_json_parts_with_auth_on(tmp_path: Path) -> None:
    server, knobs = echo_server("echo")
    model = MeshModel()
    plan = {
        "goal": "shout then echo",
        "steps": [
            {
                "id": "a",
                "action": {"kind": "tool", "server": "echo", "tool": "shout", "arguments": {"text": "hi"}},
            },
            {
                "id": "b",
                "action": {
                    "kind": "tool",
                    "server": "echo",
                    "tool": "echo",
                    "arguments": {"text": "${a.text}!"},
                },
            },
        ],
    }
    bad = {
        "goal": "x",
        "steps": [{"id": "a", "action": {"kind": "tool", "server": "echo", "tool": "rm", "arguments": {}}}],
    }
    nested = {"kind": "handoff", "skill": "plan-and-answer", "message": "say something through the echo tool"}
    handoff = {"goal": "delegate", "steps": [{"id": "h", "action": nested}]}
    with anyio.fail_after(120):
        # the plan's `shout` is not read-only: allowed by policy here (see test_approvals.py)
        allowed = {**AUTH, "approvals": {"echo.shout": "allow"}}
        async with launch_mesh(
            tmp_path, servers={"echo": server}, model=model, agent_settings=allowed
        ) as mesh:
            async with httpx.AsyncClient() as anonymous:
                refused_call = await anonymous.post(
                    f"{mesh.planner_url}/a2a/jsonrpc",
                    json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
                    headers={"A2A-Version": "1.0"},
                )
            asked = await ask_planner(
                mesh.planner_url, "say something through the echo tool", token="mesh-token"
            )
            roles = list(model.roles)
            results: list[Outcome] = []
            async with httpx.AsyncClient(timeout=60, headers={"authorization": "Bearer mesh-token"}) as http:
                card = await A2ACardResolver(http, mesh.planner_url).get_agent_card()
                for body in (plan, bad, handoff):
                    outcome = Outcome()
                    async for event in stream_message(card, new_message([json_part(body)]), http=http):
                        outcome.absorb(event)
                    results.append(outcome)
    assert refused_call.status_code == 401  # auth is on: agents call each other with their peer token
    # The model planned, wrote and reviewed; its plan was validated and run like any other.
    assert asked.state == TaskState.TASK_STATE_COMPLETED, asked.status_text
    assert asked.artifacts["answer"].parts[0].text == 'The server echoed "from the model" [1].'
    first = _rounds(asked)[0]
    assert first["why"] == "the model's tool calls" and first["calls"][0]["tool"] == "echo"
    review = artifact_json(asked.artifacts["review-1"])
    assert review["verdict"]["checked_by"] == ["deterministic", "model"]
    assert artifact_json(asked.artifacts["outcome"])["writer"]["used"] is True
    assert roles == ["planner", "planner", "writer", "reviewer"]
    # A caller's own plan (JSON part) runs as given, references resolved; an invalid one is refused.
    done, refused, delegated = results
    assert done.state == TaskState.TASK_STATE_COMPLETED, done.status_text
    steps = {s["step_id"]: s for s in _steps(done)}
    assert steps["b"]["structured"]["text"] == "HI!" and knobs.calls == 3
    assert refused.state == TaskState.TASK_STATE_FAILED and "unknown tool 'rm'" in refused.status_text
    # A handoff step: the executor found the planner by skill and its answer became the step's output.
    assert delegated.state == TaskState.TASK_STATE_COMPLETED, delegated.status_text
    step = _steps(delegated)[0]
    assert step["kind"] == "handoff" and step["status"] == "ok" and "from the model" in step["text"]
