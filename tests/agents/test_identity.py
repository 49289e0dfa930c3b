"""Agent identity: a stable id kept in the agent's folder (or set), its own task store, recovery that
follows the id across ports, and agents that never see each other's tasks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.context import ServerCallContext
from a2a.types import Part, TaskState

from toolmesh.agents.discovery import MemoryDiscovery
from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.identity import ID_FILE, resolve_identity
from toolmesh.agents.mesh import AgentRole, RunningAgent, run_agent
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.task_store import stamp
from toolmesh.agents.wire import new_message

HEADERS = {"A2A-Version": "1.0"}


def _settings(workdir: Path, **values: Any) -> AgentSettings:
    return AgentSettings(workdir=workdir, grpc_enabled=False, **values)


async def _rpc(http: httpx.AsyncClient, url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    reply: dict[str, Any] = (await http.post(f"{url}/a2a/jsonrpc", json=body, headers=HEADERS)).json()
    return reply


async def _send_json(http: httpx.AsyncClient, url: str, payload: Any) -> str:
    """Send ``payload`` as a JSON part and wait for the task to end; its id."""
    part = {"text": json.dumps(payload), "mediaType": "application/json"}
    message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [part]}
    reply = await _rpc(http, url, "SendMessage", {"message": message})
    return str(reply["result"]["task"]["id"])


def test_the_id_is_generated_once_and_kept_in_the_agents_folder(tmp_path: Path) -> None:
    first = resolve_identity(role="executor", workdir=tmp_path, agent_id=None, store_url=None)
    again = resolve_identity(role="executor", workdir=tmp_path, agent_id=None, store_url=None)
    reviewer = resolve_identity(role="reviewer", workdir=tmp_path, agent_id=None, store_url=None)
    assert first == again and first.id.startswith("executor-")
    assert (tmp_path / "executor" / ID_FILE).read_text().strip() == first.id
    assert first.store_url == f"sqlite+aiosqlite:///{tmp_path / 'executor' / 'tasks.db'}"
    assert reviewer.id != first.id and reviewer.home == tmp_path / "reviewer"


def test_an_explicit_id_and_store_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_AGENTS_AGENT_ID", "exec-eu-1")
    monkeypatch.setenv("TOOLMESH_AGENTS_WORKDIR", str(tmp_path))
    settings = AgentSettings()
    named = resolve_identity(
        role="executor", workdir=settings.workdir, agent_id=settings.agent_id, store_url=None
    )
    assert named.id == "exec-eu-1" and named.home == tmp_path / "exec-eu-1"
    assert named.store_url.endswith("/exec-eu-1/tasks.db")
    shared = resolve_identity(
        role="executor", workdir=tmp_path, agent_id="exec-eu-1", store_url="postgresql+asyncpg://db/tasks"
    )
    assert shared.store_url == "postgresql+asyncpg://db/tasks"
    assert not (tmp_path / "executor").exists()  # no id file when the id is given
    with pytest.raises(ValueError, match="not valid"):
        AgentSettings(agent_id="../escape")


def test_a_damaged_id_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "planner").mkdir()
    (tmp_path / "planner" / ID_FILE).write_text("not an id!\n")
    with pytest.raises(MeshConfigError) as caught:
        resolve_identity(role="planner", workdir=tmp_path, agent_id=None, store_url=None)
    assert "Delete it" in (caught.value.hint or "")


@pytest.mark.asyncio
async def test_a_restart_on_another_port_recovers_the_tasks_it_left_running(tmp_path: Path) -> None:
    discovery = MemoryDiscovery()
    with anyio.fail_after(60):
        async with run_agent("executor", _settings(tmp_path), discovery=discovery) as first:
            # what a crash leaves behind: a task of this agent still `working` in its store
            left = stamp(
                new_task_from_user_message(new_message([Part(text="plan")], context_id="ctx")),
                first.agent.instance,
            )
            left.status.state = TaskState.TASK_STATE_WORKING
            await first.agent.store.save(left, ServerCallContext())
        async with (
            run_agent("executor", _settings(tmp_path), discovery=discovery) as second,
            httpx.AsyncClient() as http,
        ):
            got = await _rpc(http, second.url, "GetTask", {"id": left.id})
    assert second.url != first.url and second.agent.instance == first.agent.instance
    assert second.agent.recovered == [left.id]
    status = got["result"]["status"]
    assert status["state"] == "TASK_STATE_FAILED" and "interrupted" in status["message"]["parts"][0]["text"]


@pytest.mark.asyncio
@pytest.mark.parametrize("shared_store", [False, True], ids=["own-stores", "one-shared-store"])
async def test_agents_started_from_one_folder_never_see_each_others_tasks(
    tmp_path: Path, shared_store: bool
) -> None:
    extra = {"task_db_url": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"} if shared_store else {}
    review = {"goal": "say hi", "answer": "hi", "results": []}
    plan = {"plan": {"goal": "nothing", "steps": []}}
    agents: dict[AgentRole, RunningAgent] = {}
    with anyio.fail_after(60):
        async with (
            run_agent("executor", _settings(tmp_path, **extra), discovery=MemoryDiscovery()) as executor,
            run_agent("reviewer", _settings(tmp_path, **extra)) as reviewer,
            httpx.AsyncClient(timeout=30) as http,
        ):
            agents = {"executor": executor, "reviewer": reviewer}
            reviewed = await _send_json(http, reviewer.url, review)
            executed = await _send_json(http, executor.url, plan)
            seen = {
                role: {
                    "get": await _rpc(http, agent.url, "GetTask", {"id": reviewed}),
                    "list": await _rpc(http, agent.url, "ListTasks", {}),
                }
                for role, agent in agents.items()
            }
    assert agents["executor"].agent.instance != agents["reviewer"].agent.instance
    assert seen["reviewer"]["get"]["result"]["id"] == reviewed
    assert seen["executor"]["get"]["error"]["code"] == -32001  # task not found: not the executor's
    listed = {role: [t["id"] for t in s["list"]["result"].get("tasks", [])] for role, s in seen.items()}
    assert listed == {"executor": [executed], "reviewer": [reviewed]}
    if not shared_store:
        assert (tmp_path / "executor" / "tasks.db").exists() and (tmp_path / "reviewer" / "tasks.db").exists()
