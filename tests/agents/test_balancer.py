"""Balancing: the planner spreads plans over the healthy executors by the work it has open on each, ties
broken by the registry's health order; lost executors are avoided."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import pytest
from a2a.types import AgentCard, AgentInterface, TaskState
from pydantic import Field

from tests.agents.fixtures import READ, Echo
from toolmesh.agents.balancer import Balancer
from toolmesh.agents.client import ask_planner
from toolmesh.agents.discovery import MemoryDiscovery
from toolmesh.agents.errors import AgentNotFound
from toolmesh.agents.executor.agent import executor_skills
from toolmesh.agents.mesh import launch_mesh, run_agent
from toolmesh.agents.settings import AgentSettings
from toolmesh.protocols.serving import new_server

TASKS = 6


def _card(url: str) -> AgentCard:
    return AgentCard(
        name="executor",
        skills=executor_skills(),
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
    )


@pytest.mark.asyncio
async def test_least_work_in_flight_wins_and_ties_go_to_the_healthier() -> None:
    first, second = _card("http://a/a2a/jsonrpc"), _card("http://b/a2a/jsonrpc")
    balancer = Balancer(MemoryDiscovery([first, second]))  # discovery order = health order
    one = await balancer.lease("execute-plan")
    two = await balancer.lease("execute-plan")
    three = await balancer.lease("execute-plan")
    assert [one.card, two.card, three.card] == [first, second, first]
    with two, three:
        assert balancer.in_flight(first) == 2 and balancer.in_flight(second) == 1
    assert balancer.in_flight(first) == 1 and balancer.in_flight(second) == 0
    four = await balancer.lease("execute-plan")
    assert four.card == second
    one.release()
    one.release()  # releasing twice counts once
    four.release()
    assert balancer.in_flight(first) == 0 and balancer.in_flight(second) == 0
    assert (await balancer.lease("execute-plan", avoid={"http://a/a2a/jsonrpc"})).card == second
    with pytest.raises(AgentNotFound, match="was lost"):
        await balancer.lease("execute-plan", avoid={"http://a/a2a/jsonrpc", "http://b/a2a/jsonrpc"})


def _meeting_server(expected: int) -> tuple[Any, asyncio.Event]:
    """An echo server whose calls all wait until ``expected`` of them are in flight at once."""
    server = new_server("echo")
    arrived: list[str] = []
    together = asyncio.Event()

    @server.tool(annotations=READ)
    async def echo(text: Annotated[str, Field(description="Text to echo back.")]) -> Echo:
        """Echo the text back (read-only, cacheable)."""
        arrived.append(text)
        if len(arrived) >= expected:
            together.set()
        await together.wait()
        return Echo(text=text, calls=len(arrived))

    return server, together


async def _task_count(url: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}
    async with httpx.AsyncClient() as http:
        reply = (await http.post(f"{url}/a2a/jsonrpc", json=body, headers={"A2A-Version": "1.0"})).json()
    return len(reply["result"].get("tasks", []))


@pytest.mark.asyncio
async def test_concurrent_requests_are_split_evenly_over_two_executors(tmp_path: Path) -> None:
    server, together = _meeting_server(TASKS)
    with anyio.fail_after(150):
        async with launch_mesh(tmp_path, servers={"echo": server}, roles=("reviewer",)) as mesh:
            common = {
                "registry_url": mesh.registry_url,
                "registry_token": mesh.registry_token,
                "workdir": tmp_path / "agents",
                "heartbeat_interval": 20.0,
                "backoff": 0.02,
            }
            async with contextlib.AsyncExitStack() as stack:
                executors = []
                for agent_id in ("exec-1", "exec-2"):  # two executors from one folder: their own ids
                    executor = await stack.enter_async_context(
                        run_agent("executor", AgentSettings(agent_id=agent_id, **common))
                    )
                    await executor.agent.presence.registered.wait()
                    executors.append(executor)
                planner = await stack.enter_async_context(run_agent("planner", AgentSettings(**common)))
                outcomes = await asyncio.gather(
                    *(ask_planner(planner.url, f'Echo back the text "task {n}"') for n in range(TASKS))
                )
                counts = [await _task_count(e.url) for e in executors]
    assert together.is_set()
    assert all(o.state == TaskState.TASK_STATE_COMPLETED for o in outcomes), [o.status_text for o in outcomes]
    assert counts == [TASKS // 2, TASKS // 2], counts
