"""Approvals for writes at the executor: a tool that is not read-only waits for the caller's answer
(over JSON-RPC and HTTP+JSON), runs exactly the approved arguments, and is skipped (with its dependents)
when denied; the policy in settings allows or denies without asking; read-only steps never ask."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory, create_client
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import ContentTypeNotSupportedError

from tests.agents.fixtures import Knobs, echo_server
from toolmesh.agents.approvals import ApprovalPolicy, ApprovalRequest, read_answer, request_of
from toolmesh.agents.client import ask_planner
from toolmesh.agents.discovery import MemoryDiscovery, ServerRef
from toolmesh.agents.errors import AgentError
from toolmesh.agents.mesh import launch_mesh, run_agent
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.wire import Outcome, artifact_json, json_part, new_message, stream_message

BINDINGS = ["JSONRPC", "HTTP+JSON"]


def _step(step_id: str, tool: str, text: str, *deps: str) -> dict[str, Any]:
    return {
        "id": step_id,
        "action": {"kind": "tool", "server": "echo", "tool": tool, "arguments": {"text": text}},
        "depends_on": list(deps),
    }


READ_WRITE_READ = {
    "goal": "read, write what was read, read it back",
    "steps": [_step("r", "echo", "x"), _step("w", "shout", "${r.text}"), _step("d", "echo", "${w.text}!")],
}
TWO_WRITES = {"goal": "two writes", "steps": [_step("w1", "shout", "one"), _step("w2", "shout", "two")]}


@contextlib.asynccontextmanager
async def executor(approvals: dict[str, str] | None = None) -> AsyncIterator[tuple[AgentCard, Knobs]]:
    server, knobs = echo_server("echo")
    discovery = MemoryDiscovery(servers=[ServerRef(id="echo-1", name="echo", target=server)])
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "task_db_url": "memory://"}
    if approvals is not None:
        values["approvals"] = approvals
    settings = AgentSettings(**values)
    async with run_agent("executor", settings, discovery=discovery) as running, httpx.AsyncClient() as http:
        yield await A2ACardResolver(http, running.url).get_agent_card(), knobs


async def send(card: AgentCard, message: Message, binding: str = "JSONRPC") -> Outcome:
    async with httpx.AsyncClient(timeout=30) as http:
        config = ClientConfig(streaming=True, httpx_client=http, supported_protocol_bindings=[binding])
        client = ClientFactory(config).create(card)
        request = SendMessageRequest(message=message, configuration=SendMessageConfiguration())
        outcome = Outcome()
        with anyio.fail_after(30):
            async for event in client.send_message(request):
                outcome.absorb(event)
        return outcome


def _results(outcome: Outcome) -> dict[str, dict[str, Any]]:
    return {r["step_id"]: r for r in artifact_json(outcome.artifacts["results"])}


def _answer(outcome: Outcome, body: Any) -> Message:
    return new_message([json_part(body)], task_id=outcome.task_id, context_id=outcome.context_id)


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_write_waits_for_approval_and_runs_once_approved(binding: str) -> None:
    async with executor() as (card, knobs):
        asked = await send(card, new_message([json_part(READ_WRITE_READ)]), binding)
        assert asked.state == TaskState.TASK_STATE_INPUT_REQUIRED, asked.status_text
        request = request_of(asked.status_parts)
        assert request is not None
        assert [c.model_dump(include={"step_id", "server", "tool", "arguments"}) for c in request.calls] == [
            {"step_id": "w", "server": "echo", "tool": "shout", "arguments": {"text": "x"}}
        ]
        assert "echo.shout" in asked.status_text  # the text summary for humans
        assert knobs.calls == 1  # the read ran; the write did not
        done = await send(card, _answer(asked, {"approve": True}), binding)
    assert done.state == TaskState.TASK_STATE_COMPLETED, done.status_text
    results = _results(done)
    assert [results[s]["status"] for s in ("r", "w", "d")] == ["ok", "ok", "ok"]
    assert results["w"]["approval"] == "approved" and results["w"]["approved_by"] == "caller"
    assert results["d"]["structured"]["text"] == "X!" and knobs.calls == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_denied_write_is_skipped_with_its_dependents(binding: str) -> None:
    async with executor() as (card, knobs):
        asked = await send(card, new_message([json_part(READ_WRITE_READ)]), binding)
        done = await send(card, _answer(asked, {"approve": False}), binding)
    assert done.state == TaskState.TASK_STATE_COMPLETED, done.status_text
    results = _results(done)
    assert results["r"]["status"] == "ok"
    assert results["w"]["status"] == "skipped" and results["w"]["approval"] == "denied"
    assert results["w"]["error"] == "not approved: the caller denied echo.shout"
    assert results["d"]["status"] == "skipped" and results["d"]["error"].startswith("not approved")
    assert knobs.calls == 1


@pytest.mark.asyncio
async def test_approving_a_subset_runs_only_those_and_a_bad_answer_asks_again() -> None:
    async with executor() as (card, knobs):
        asked = await send(card, new_message([json_part(TWO_WRITES)]))
        request = request_of(asked.status_parts)
        assert request is not None and {c.step_id for c in request.calls} == {"w1", "w2"}
        again = await send(card, _answer(asked, {"approve": ["w3"]}))
        assert again.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert "w3" in again.status_text and "Waiting: w1, w2" in again.status_text and knobs.calls == 0
        with pytest.raises(ContentTypeNotSupportedError):  # text answers go to the planner, not here
            await send(
                card, new_message([Part(text="yes")], task_id=asked.task_id, context_id=asked.context_id)
            )
        done = await send(card, _answer(asked, {"approve": ["w1"]}))
    results = _results(done)
    assert results["w1"]["status"] == "ok" and results["w2"]["status"] == "skipped"
    assert knobs.calls == 1


@pytest.mark.asyncio
async def test_the_policy_allows_or_denies_without_asking_and_reads_never_ask() -> None:
    reads = {"goal": "reads", "steps": [_step("a", "echo", "1"), _step("b", "echo", "2")]}
    async with executor({"echo.shout": "allow"}) as (card, knobs):
        allowed = await send(card, new_message([json_part(READ_WRITE_READ)]))
        assert knobs.calls == 3
        read_only = await send(card, new_message([json_part(reads)]))
    assert allowed.state == TaskState.TASK_STATE_COMPLETED, allowed.status_text
    assert _results(allowed)["w"]["approved_by"] == "policy"
    assert read_only.state == TaskState.TASK_STATE_COMPLETED and knobs.calls == 5
    async with executor({"echo.*": "deny", "*": "ask"}) as (card, knobs):
        denied = await send(card, new_message([json_part(READ_WRITE_READ)]))
    assert denied.state == TaskState.TASK_STATE_COMPLETED, denied.status_text
    results = _results(denied)
    assert (
        results["w"]["status"] == "skipped"
        and "policy denies echo.shout (rule 'echo.*')" in results["w"]["error"]
    )
    assert results["d"]["status"] == "skipped" and knobs.calls == 1


def test_policy_patterns_and_answers_are_checked_with_what_to_do() -> None:
    policy = ApprovalPolicy({"code.reindex": "allow", "code.*": "deny", "*": "ask"})
    assert policy.decide("code", "reindex") == ("allow", "code.reindex")
    assert policy.decide("code", "write_file") == ("deny", "code.*")
    assert policy.decide("sql", "x") == ("ask", "*")
    assert ApprovalPolicy().decide("sql", "x") == ("ask", "")
    for bad in ("code", "co*.x", "*.x", "code.x*", ".x"):
        with pytest.raises(ValueError, match="is not a pattern"):
            ApprovalPolicy({bad: "allow"})
    with pytest.raises(ValueError, match="use 'ask', 'allow' or 'deny'"):
        AgentSettings(approvals={"code.*": "sometimes"})
    request = ApprovalRequest.model_validate(
        {"calls": [{"step_id": "w", "server": "code", "tool": "reindex", "arguments": {}}]}
    )
    assert read_answer([Part(text="Yes")], request.calls, text=True) == {"w"}
    assert read_answer([Part(text="deny")], request.calls, text=True) == set()
    with pytest.raises(AgentError, match="does not say whether"):
        read_answer([Part(text="yes")], request.calls, text=False)


async def _ask(card: AgentCard, message: Message) -> tuple[Outcome, list[StreamResponse]]:
    events: list[StreamResponse] = []
    outcome = Outcome()
    async with httpx.AsyncClient(timeout=60) as http:
        with anyio.fail_after(60):
            async for event in stream_message(card, message, http=http):
                events.append(event)
                outcome.absorb(event)
    return outcome, events


def _steps(outcome: Outcome) -> dict[str, dict[str, Any]]:
    found = [artifact_json(a) for n, a in outcome.artifacts.items() if "/step:" in n]
    return {s["step_id"]: s for s in found}


@pytest.mark.asyncio
async def test_through_the_planner_the_caller_answers_and_the_answer_reaches_the_executor(
    tmp_path: Path,
) -> None:
    server, knobs = echo_server("echo")
    with anyio.fail_after(120):
        async with launch_mesh(tmp_path, servers={"echo": server}, agent_settings={"backoff": 0.02}) as mesh:
            async with httpx.AsyncClient() as http:
                card = await A2ACardResolver(http, mesh.planner_url).get_agent_card()
            asked, events = await _ask(card, new_message([json_part(READ_WRITE_READ)]))
            calls_before = knobs.calls
            answer = new_message([Part(text="yes")], task_id=asked.task_id, context_id=asked.context_id)
            approved, _ = await _ask(card, answer)
            calls_approved = knobs.calls
            denied_ask, _ = await _ask(card, new_message([json_part(READ_WRITE_READ)]))
            no = new_message(
                [json_part({"approve": False})], task_id=denied_ask.task_id, context_id=denied_ask.context_id
            )
            denied, _ = await _ask(card, no)
    # The planner's task asks with the executor's calls; streaming callers see the input-required event.
    assert asked.state == TaskState.TASK_STATE_INPUT_REQUIRED, asked.status_text
    request = request_of(asked.status_parts)
    assert request is not None and [(c.step_id, c.tool, c.arguments) for c in request.calls] == [
        ("w", "shout", {"text": "x"})
    ]
    states = [e.status_update.status.state for e in events if e.WhichOneof("payload") == "status_update"]
    assert states[-1] == TaskState.TASK_STATE_INPUT_REQUIRED and calls_before == 1
    # "yes" to the planner is relayed to the same executor task, which runs the write and what follows.
    assert approved.state == TaskState.TASK_STATE_COMPLETED, approved.status_text
    assert approved.task_id == asked.task_id
    assert {s: r["status"] for s, r in _steps(approved).items()} == {"r": "ok", "w": "ok", "d": "ok"}
    assert calls_approved == 3  # r ran once (not again on resume), then w and d
    # Denied: not run, skipped with the reason, and no answer built on it passes review.
    steps = _steps(denied)
    assert steps["w"]["status"] == "skipped" and steps["w"]["error"].startswith("not approved")
    assert steps["d"]["status"] == "skipped" and knobs.calls == 3  # (the second r came from the cache)
    assert denied.state == TaskState.TASK_STATE_FAILED, denied.status_text
    review = artifact_json(denied.artifacts["review-1"])["verdict"]
    assert review["approved"] is False and "not_approved" in {i["code"] for i in review["issues"]}
    assert "not approved" in denied.status_text


@pytest.mark.asyncio
async def test_ask_planner_approves_or_denies_a_write_the_planner_itself_plans(tmp_path: Path) -> None:
    """The planner's own write (remembering a fact), asked because the policy says ask for every write."""
    memory = {"memory": {"store": f"sqlite:///{tmp_path / 'memory.sqlite'}", "embedder": "none"}}
    seen: list[ApprovalRequest] = []

    async def deny(request: ApprovalRequest) -> bool:
        seen.append(request)
        return False

    async def allow(request: ApprovalRequest) -> bool:
        seen.append(request)
        return True

    with anyio.fail_after(120):
        async with launch_mesh(
            tmp_path,
            server_names=("memory",),
            server_settings=memory,
            agent_settings={"approvals": {"*": "ask"}},
        ) as mesh:
            denied = await ask_planner(
                mesh.planner_url, "Remember that the fiscal year starts in April.", approve=deny
            )
            stopped = await ask_planner(mesh.planner_url, "Remember that the fiscal year starts in May.")
            kept = await ask_planner(
                mesh.planner_url, "Remember that the fiscal year starts in April.", approve=allow
            )
    assert [(c.server, c.tool) for r in seen for c in r.calls] == [("memory", "remember")] * 2
    assert seen[0].calls[0].arguments["text"] == "the fiscal year starts in April"
    assert denied.state == TaskState.TASK_STATE_FAILED and "not approved" in denied.status_text
    assert stopped.state == TaskState.TASK_STATE_INPUT_REQUIRED  # no approver: returned as it is, not run
    assert kept.state == TaskState.TASK_STATE_COMPLETED, kept.status_text
    assert kept.artifacts["answer"].parts[0].text.startswith("Remembered: the fiscal year starts in April")


def test_the_cli_denies_when_not_in_a_terminal_and_prints_what_it_denied(tmp_path: Path) -> None:
    """`toolmesh agents ask` with no terminal to prompt in: the write is denied, and the CLI says which."""
    import asyncio
    import threading

    from typer.testing import CliRunner

    from toolmesh.agents.cli import app

    memory = {"memory": {"store": f"sqlite:///{tmp_path / 'memory.sqlite'}", "embedder": "none"}}
    up, stop, urls = threading.Event(), threading.Event(), []

    async def serve() -> None:
        async with launch_mesh(
            tmp_path,
            server_names=("memory",),
            server_settings=memory,
            agent_settings={"approvals": {"*": "ask"}},
        ) as mesh:
            urls.append(mesh.planner_url)
            up.set()
            await asyncio.to_thread(stop.wait, 120)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert up.wait(60), "the mesh did not start within 60 s"
        ran = CliRunner().invoke(
            app, ["ask", "--planner", urls[0], "Remember that the fiscal year starts in April."]
        )
    finally:
        stop.set()
        thread.join(30)
    assert ran.exit_code == 1, ran.output
    assert "approval needed" in ran.output and "memory.remember" in ran.output
    assert "denied (not an interactive terminal): r1s1: memory.remember" in ran.output
    assert "not approved" in ran.output


@pytest.mark.asyncio
async def test_cancelling_the_planner_task_waiting_for_approval_cancels_the_executor_task(
    tmp_path: Path,
) -> None:
    server, knobs = echo_server("echo")
    with anyio.fail_after(120):
        async with launch_mesh(tmp_path, servers={"echo": server}) as mesh:
            async with httpx.AsyncClient() as http:
                card = await A2ACardResolver(http, mesh.planner_url).get_agent_card()
            asked, _ = await _ask(card, new_message([json_part(READ_WRITE_READ)]))
            planner = await create_client(mesh.planner_url, client_config=ClientConfig(streaming=False))
            async with planner:
                canceled = await planner.cancel_task(CancelTaskRequest(id=asked.task_id))
            executor_client = await create_client(
                mesh.agents["executor"].url, client_config=ClientConfig(streaming=False)
            )
            async with executor_client:
                listed = await executor_client.list_tasks(ListTasksRequest(context_id=asked.context_id))
    assert asked.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    assert [t.status.state for t in listed.tasks] == [TaskState.TASK_STATE_CANCELED]
    assert knobs.calls == 1  # the write never ran
