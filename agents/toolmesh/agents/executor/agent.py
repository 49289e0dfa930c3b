"""The executor agent: receives a plan over A2A, runs it with the engine, streams each step's start and end.

Input: a message whose JSON part is the plan (or ``{"plan": ...}``). Output: one artifact per step
(``step:ID``, the :class:`StepResult` as JSON), a final ``results`` artifact, and status updates for every
step start, retry and fallback. Cancelling the task cancels the in-flight MCP calls.

A tool that is not read-only needs approval (:mod:`toolmesh.agents.approvals`): the task goes
``input-required`` with the calls (the ``plan`` and ``approval`` artifacts keep what the answer resumes),
and the caller's answer — a JSON part ``{"approve": ...}`` with the task's ids — runs or skips them.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import AgentSkill, Part, Task, TaskState

from toolmesh.agents.approvals import (
    ApprovalPolicy,
    ApprovalRequest,
    Approvals,
    approval_parts,
    read_answer,
)
from toolmesh.agents.balancer import Balancer
from toolmesh.agents.catalog import Catalog, CatalogCache
from toolmesh.agents.discovery import Discovery
from toolmesh.agents.errors import AgentNotFound, PlanError
from toolmesh.agents.executor.engine import Engine
from toolmesh.agents.executor.results import StepEvent, StepResult
from toolmesh.agents.plan import Handoff, Plan, Step, StepOutput, parse_plan, validate_plan
from toolmesh.agents.runtime import new_task, updater_for
from toolmesh.agents.tracing import extract_context, tracer
from toolmesh.agents.wire import Outcome, artifact_json, json_part, json_parts, new_message, stream_message
from toolmesh.protocols.errors import ToolmeshError

__all__ = ["EXECUTE_SKILL", "ExecutorAgent", "executor_skills"]

logger = logging.getLogger(__name__)

EXECUTE_SKILL = "execute-plan"


def executor_skills() -> list[AgentSkill]:
    return [
        AgentSkill(
            id=EXECUTE_SKILL,
            name="Execute a plan",
            description=(
                "Runs a toolmesh plan (a DAG of MCP tool calls and handoffs; JSON part) with timeouts, "
                "retries, per-server circuit breakers, fallback servers and a read-only result cache; "
                "streams each step. A tool that is not read-only runs only after approval: the task goes "
                'input-required with the calls; answer {"approve": true|false} or {"approve": [step ids]} '
                "as a JSON part with the task's ids."
            ),
            tags=["executor", "mcp", "plan"],
            input_modes=["application/json"],
            output_modes=["application/json", "text/plain"],
        )
    ]


def _plan_from(context: RequestContext) -> Plan:
    if context.message is None:
        raise PlanError("the request has no message")
    payloads = json_parts(context.message.parts)
    if not payloads:
        raise PlanError(
            "the request carries no plan", hint="Send the plan as a JSON part (application/json)."
        )
    body: Any = payloads[0]
    if isinstance(body, dict) and "plan" in body:
        body = body["plan"]
    return parse_plan(body)


class ExecutorAgent(AgentExecutor):
    """Runs plans for callers; one engine (pool, breakers, cache) shared by all tasks of this process."""

    def __init__(
        self,
        engine: Engine,
        catalogs: CatalogCache,
        discovery: Discovery,
        *,
        instance: str,
        http: httpx.AsyncClient,
        approvals: ApprovalPolicy | None = None,
        balancer: Balancer | None = None,
    ) -> None:
        self.engine = engine
        self.approvals = approvals or ApprovalPolicy()
        self.catalogs = catalogs
        self.discovery = discovery
        self.balancer = balancer or Balancer(discovery)  # picks the agent a handoff step goes to
        self.instance = instance
        self.http = http
        engine.handoff = self._handoff

    async def _handoff(self, step: Step, action: Handoff) -> StepOutput:
        outcome = Outcome()
        with await self.balancer.lease(action.skill) as lease:
            message = new_message([Part(text=action.message)])
            async for event in stream_message(lease.card, message, http=self.http):
                outcome.absorb(event)
        if outcome.state != TaskState.TASK_STATE_COMPLETED:
            raise AgentNotFound(f"the {action.skill} agent ended {outcome.state_name}: {outcome.status_text}")
        answer = outcome.artifacts.get("answer")
        structured = artifact_json(answer) if answer is not None else None
        text = outcome.status_text
        return StepOutput(structured=structured, text=text)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        current = context.current_task
        if current is None:
            await event_queue.enqueue_event(new_task(context, self.instance))
        updater = updater_for(context, event_queue)
        headers = context.call_context.state.get("headers") if context.call_context else None
        with tracer().start_as_current_span("executor.execute", context=extract_context(headers)) as span:
            span.set_attribute("a2a.task_id", context.task_id or "")
            approvals = Approvals(policy=self.approvals)
            prior: dict[str, StepResult] = {}
            resumed = False
            waiting = _artifact(current, "approval") if current is not None else None
            if (
                current is not None
                and current.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
                and waiting
            ):
                asked = ApprovalRequest.model_validate(waiting)
                try:
                    parts = list(context.message.parts) if context.message else []
                    approvals.answered(asked.calls, read_answer(parts, asked.calls, text=False))
                except ToolmeshError as exc:
                    note = f"could not read the answer: {exc}"
                    await updater.requires_input(updater.new_agent_message(approval_parts(asked, note)))
                    return
                prior, resumed = _prior_results(current), True
                await updater.start_work(updater.new_agent_message([Part(text=_answer_note(approvals))]))
            else:
                await updater.start_work(updater.new_agent_message([Part(text="plan received")]))
            catalog: Catalog | None = None
            try:
                plan = parse_plan(_artifact(current, "plan")) if resumed else _plan_from(context)
                catalog = await self.catalogs.build(await self.discovery.list_servers())
                validate_plan(plan, catalog.schemas(), skills=await self.discovery.skills())
            except ToolmeshError as exc:
                errors = catalog.errors.items() if catalog else ()
                problems = "; ".join(f"{sid}: {err}" for sid, err in errors)
                detail = f" (servers that failed to list their tools: {problems})" if problems else ""
                await updater.failed(updater.new_agent_message([Part(text=f"invalid plan: {exc}{detail}")]))
                return

            async def sink(event: StepEvent) -> None:
                if event.phase == "end" and event.result is not None:
                    await updater.add_artifact(
                        [json_part(event.result.model_dump(mode="json"))],
                        artifact_id=f"step-{event.step_id}",
                        name=f"step:{event.step_id}",
                        metadata={"step": event.step_id, "status": event.result.status},
                    )
                    return
                await updater.update_status(
                    TaskState.TASK_STATE_WORKING,
                    updater.new_agent_message([Part(text=f"{event.step_id} {event.phase}: {event.message}")]),
                    metadata={"step": event.step_id, "phase": event.phase},
                )

            user = context.call_context.user.user_name if context.call_context else None
            results = await self.engine.run(
                plan, catalog, on_event=sink, principal=user or None, approvals=approvals, prior=prior
            )
            if approvals.pending:
                request = ApprovalRequest(calls=approvals.pending)
                await updater.add_artifact(
                    [json_part(plan.model_dump(mode="json"))], artifact_id="plan", name="plan"
                )
                await updater.add_artifact(
                    [json_part(request.model_dump(mode="json"))], artifact_id="approval", name="approval"
                )
                await updater.requires_input(updater.new_agent_message(approval_parts(request)))
                return
            await updater.add_artifact(
                [json_part([r.model_dump(mode="json") for r in results])],
                artifact_id="results",
                name="results",
            )
            ok = sum(1 for r in results if r.status == "ok")
            await updater.complete(
                updater.new_agent_message([Part(text=f"{ok} of {len(results)} steps succeeded")])
            )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = updater_for(context, event_queue)
        await updater.cancel(
            updater.new_agent_message(
                [Part(text="canceled by the caller; in-flight tool calls were cancelled")]
            )
        )


def _artifact(task: Task | None, name: str) -> Any:
    for artifact in task.artifacts if task is not None else []:
        if artifact.name == name:
            found = json_parts(artifact.parts)
            return found[0] if found else None
    return None


def _prior_results(task: Task) -> dict[str, StepResult]:
    """The steps that ended before the task stopped for approval (their ``step:ID`` artifacts)."""
    out: dict[str, StepResult] = {}
    for artifact in task.artifacts:
        if artifact.name.startswith("step:"):
            found = json_parts(artifact.parts)
            if found:
                result = StepResult.model_validate(found[0])
                out[result.step_id] = result
    return out


def _answer_note(approvals: Approvals) -> str:
    yes = ", ".join(sorted(approvals.approved)) or "none"
    no = ", ".join(sorted(approvals.denied)) or "none"
    return f"approval answered: running {yes}; not approved: {no}"
