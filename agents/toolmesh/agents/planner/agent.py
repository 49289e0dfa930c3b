"""The planner agent: plan, hand the plan to an executor, have a reviewer check the answer, replan
on rejection.

Input: text (the request) and/or a JSON part holding a plan. Everything the caller should see is streamed:
status updates for each hop and step (``metadata.hop`` = planner | executor | reviewer), the executor's
step artifacts relayed as ``round-N/step:ID``, one ``round-N`` artifact per round (plan, results, answer,
verdict), and finally ``answer`` (text) and ``evidence`` (JSON). An ambiguous request ends in
``input-required`` with a question; the caller's reply (same task and context ids) resumes it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
import httpx
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import AgentCard, AgentSkill, Part, Task, TaskState
from opentelemetry.trace import Status, StatusCode

from toolmesh.agents.catalog import Catalog, CatalogCache
from toolmesh.agents.discovery import Discovery
from toolmesh.agents.errors import AgentError, AgentNotFound, ModelError, PlanError
from toolmesh.agents.evidence import extract_evidence
from toolmesh.agents.executor.agent import EXECUTE_SKILL
from toolmesh.agents.executor.engine import StepResult
from toolmesh.agents.model import ChatModel
from toolmesh.agents.plan import Plan, parse_plan, validate_plan
from toolmesh.agents.planner.planning import DeterministicPlanner, ModelPlanner, write_answer
from toolmesh.agents.reviewer.agent import REVIEW_SKILL
from toolmesh.agents.reviewer.checks import ReviewRequest, Verdict, review_deterministic
from toolmesh.agents.runtime import new_task, updater_for
from toolmesh.agents.tracing import extract_context, tracer
from toolmesh.agents.wire import (
    Outcome,
    artifact_json,
    cancel_remote,
    json_part,
    json_parts,
    new_message,
    stream_message,
    text_of,
)
from toolmesh.protocols.errors import ToolmeshError

__all__ = ["PLAN_SKILL", "PlannerAgent", "planner_skills"]

logger = logging.getLogger(__name__)

PLAN_SKILL = "plan-and-answer"


def planner_skills() -> list[AgentSkill]:
    return [
        AgentSkill(
            id=PLAN_SKILL,
            name="Answer with evidence",
            description=(
                "Answers a question from the registered MCP servers (documents, databases, code): plans "
                "tool calls, has an executor run them, has a reviewer check the answer, replans when "
                "rejected, and answers "
                "with citations, rows and code spans. Accepts text, or a plan as a JSON part."
            ),
            tags=["planner", "rag", "sql", "code", "orchestration"],
            examples=[
                "What do the docs say about refunds, how many orders are there, "
                "and where is refund() defined?"
            ],
            input_modes=["text/plain", "application/json"],
            output_modes=["text/plain", "application/json"],
        )
    ]


class _ExecutorLost(AgentError):
    """The executor's stream ended before its task did."""


class PlannerAgent(AgentExecutor):
    def __init__(
        self,
        *,
        discovery: Discovery,
        catalogs: CatalogCache,
        instance: str,
        http: httpx.AsyncClient,
        model: ChatModel | None = None,
        max_rounds: int = 3,
        handoff_timeout: float = 600.0,
        replacement_wait: float = 15.0,
    ) -> None:
        self.discovery = discovery
        self.catalogs = catalogs
        self.instance = instance
        self.http = http
        self.model = model
        self.max_rounds = max_rounds
        self.handoff_timeout = handoff_timeout
        self.replacement_wait = replacement_wait

    # --- the request -----------------------------------------------------------------------------

    @staticmethod
    def _original_request(task: Task) -> str:
        for artifact in task.artifacts:
            if artifact.name == "request":
                value = artifact_json(artifact)
                if isinstance(value, dict) and isinstance(value.get("request"), str):
                    return str(value["request"])
        return ""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        current = context.current_task
        resumed = current is not None and current.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        if current is None:
            await event_queue.enqueue_event(new_task(context, self.instance))
        updater = updater_for(context, event_queue)
        headers = context.call_context.state.get("headers") if context.call_context else None
        with tracer().start_as_current_span("planner.execute", context=extract_context(headers)) as span:
            span.set_attribute("a2a.task_id", context.task_id or "")
            message_parts = list(context.message.parts) if context.message else []
            text = text_of(message_parts).strip()
            given: Plan | None = None
            try:
                payloads = json_parts(message_parts)
                if payloads:
                    body = payloads[0]
                    given = parse_plan(body["plan"] if isinstance(body, dict) and "plan" in body else body)
            except AgentError as exc:  # a JSON part that does not parse, or a malformed plan
                await updater.failed(updater.new_agent_message([Part(text=f"invalid plan: {exc}")]))
                return
            if resumed and current is not None:
                original = self._original_request(current)
                text = f"{original}\n{text}".strip()
            request = text or (given.goal if given else "")
            if not request:
                await updater.failed(updater.new_agent_message([Part(text="empty request: send a question")]))
                return
            await updater.add_artifact(
                [json_part({"request": request})], artifact_id="request", name="request"
            )
            await self._status(updater, "planner", "building the tool catalog")
            try:
                catalog = await self.catalogs.build(await self.discovery.list_servers())
                await self._run(updater, context, request, given, catalog)
            except ToolmeshError as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await updater.failed(updater.new_agent_message([Part(text=str(exc))]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = updater_for(context, event_queue)
        await updater.cancel(updater.new_agent_message([Part(text="canceled by the caller")]))

    # --- rounds ----------------------------------------------------------------------------------

    async def _status(self, updater: TaskUpdater, hop: str, text: str, **meta: Any) -> None:
        await updater.update_status(
            TaskState.TASK_STATE_WORKING,
            updater.new_agent_message([Part(text=f"[{hop}] {text}")]),
            metadata={"hop": hop, **meta},
        )

    async def _first_plan(
        self, request: str, given: Plan | None, catalog: Catalog, planner: DeterministicPlanner
    ) -> Plan | str:
        """A plan, or a question for the caller (str) when the request cannot be routed."""
        if given is not None:
            validate_plan(given, catalog.schemas(), skills=await self.discovery.skills())
            return given
        if self.model is not None:
            try:
                return await ModelPlanner(self.model, catalog).plan(request)
            except (ModelError, PlanError) as exc:
                logger.warning("model plan unusable (%s); planning deterministically", exc)
        question = planner.ambiguity()
        if question is not None:
            return question
        return planner.first_plan()

    async def _run(
        self,
        updater: TaskUpdater,
        context: RequestContext,
        request: str,
        given: Plan | None,
        catalog: Catalog,
    ) -> None:
        planner = DeterministicPlanner(catalog, request)
        first = await self._first_plan(request, given, catalog, planner)
        if isinstance(first, str):
            await updater.requires_input(updater.new_agent_message([Part(text=first)]))
            return
        plan: Plan | None = first
        results: list[StepResult] = []
        answer = ""
        verdict: Verdict | None = None
        rounds = 0
        while plan is not None and rounds < self.max_rounds:
            rounds += 1
            await updater.add_artifact(
                [json_part(plan.model_dump(mode="json"))],
                artifact_id=f"plan-{rounds}",
                name=f"round-{rounds}/plan",
            )
            await self._status(
                updater, "planner", f"round {rounds}: {len(plan.steps)} step(s) to the executor", round=rounds
            )
            lost: list[str] = []
            new_results = await self._execute(updater, context, plan, rounds, lost)
            fresh = {r.step_id for r in new_results}
            results = [r for r in results if r.step_id not in fresh] + new_results
            answer = await write_answer(request, results, self.model)
            verdict = await self._review(updater, context, request, answer, results, rounds)
            await updater.add_artifact(
                [
                    json_part(
                        {
                            "round": rounds,
                            "plan": plan.model_dump(mode="json"),
                            "steps": [
                                {"id": r.step_id, "status": r.status, "error": r.error} for r in new_results
                            ],
                            "answer": answer,
                            "verdict": verdict.model_dump(mode="json"),
                            "executors_lost": lost,
                        }
                    )
                ],
                artifact_id=f"round-{rounds}",
                name=f"round-{rounds}",
            )
            if verdict.approved:
                break
            plan = await self._replan(request, catalog, planner, plan, results, verdict, given)
            if plan is not None:  # keep what passed review; the new plan replaces the rest
                results = [r for r in results if r.status == "ok" and not _is_flagged(r, verdict)]
        if not results or all(r.status != "ok" for r in results):
            reasons = "; ".join(f"{r.step_id}: {r.error}" for r in results) or "no step ran"
            raise AgentError(f"no step succeeded after {rounds} round(s): {reasons}")
        final = answer
        if verdict is not None and not verdict.approved:
            concerns = "\n".join(f"- {i.message}" for i in verdict.issues if i.severity == "error")
            final = f"{answer}\n\nReviewer concerns not resolved after {rounds} round(s):\n{concerns}"
        evidence = extract_evidence(results)
        await updater.add_artifact(
            [json_part([e.model_dump(mode="json") for e in evidence])],
            artifact_id="evidence",
            name="evidence",
        )
        await updater.add_artifact([Part(text=final)], artifact_id="answer", name="answer")
        await updater.complete(updater.new_agent_message([Part(text=final)]))

    async def _replan(
        self,
        request: str,
        catalog: Catalog,
        planner: DeterministicPlanner,
        previous: Plan,
        results: list[StepResult],
        verdict: Verdict,
        given: Plan | None,
    ) -> Plan | None:
        if self.model is not None:
            try:
                return await ModelPlanner(self.model, catalog).plan(
                    request, feedback=verdict, previous=previous
                )
            except (ModelError, PlanError) as exc:
                logger.warning("model replan unusable (%s); replanning deterministically", exc)
        if given is not None and not planner.step_clause:
            return None  # the caller's own plan: nothing of ours to re-route
        new_plan, _ = planner.replan(results, verdict)
        return new_plan

    # --- hops ------------------------------------------------------------------------------------

    async def _execute(
        self, updater: TaskUpdater, context: RequestContext, plan: Plan, round_no: int, lost: list[str]
    ) -> list[StepResult]:
        """Run ``plan`` on an executor found by skill. When one is lost mid-task, the plan is resumed on
        another (waiting up to ``replacement_wait`` s for one to register); ``lost`` records each loss."""
        gone: set[str] = set()
        deadline = anyio.current_time() + self.replacement_wait
        while True:
            card = await self._executor_card(gone)
            if card is None:
                if anyio.current_time() >= deadline:
                    break
                await anyio.sleep(0.25)
                await self.discovery.refresh()
                continue
            try:
                return await self._execute_on(updater, context, card, plan, round_no)
            except _ExecutorLost as exc:
                url = _card_url(card)
                gone.add(url)
                lost.append(f"{url}: {exc}")
                await self.discovery.refresh()
                await self._status(
                    updater,
                    "planner",
                    f"executor {url} lost mid-task ({exc}); resuming elsewhere",
                    round=round_no,
                )
        raise AgentError(
            f"the plan could not be executed: {'; '.join(lost)}",
            hint="Every executor found by skill was lost mid-task; start one and ask again.",
        )

    async def _executor_card(self, gone: set[str]) -> AgentCard | None:
        """The first executor not lost yet (AgentNotFound when none was ever found)."""
        try:
            cards = await self.discovery.find_agents(EXECUTE_SKILL)
        except AgentNotFound:
            if not gone:
                raise
            return None
        return next((c for c in cards if _card_url(c) not in gone), None)

    async def _execute_on(
        self, updater: TaskUpdater, context: RequestContext, card: AgentCard, plan: Plan, round_no: int
    ) -> list[StepResult]:
        message = new_message(
            [json_part({"plan": plan.model_dump(mode="json")})],
            context_id=context.context_id or "",
            metadata={"caller_task": context.task_id or "", "round": round_no},
        )
        outcome = Outcome()
        try:
            with anyio.fail_after(self.handoff_timeout):
                async for event in stream_message(card, message, http=self.http):
                    outcome.absorb(event)
                    await self._relay(updater, event, round_no)
        except asyncio.CancelledError:
            if outcome.task_id:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    try:
                        await cancel_remote(card, outcome.task_id, http=self.http)
                    except Exception as exc:  # best effort; the caller is already gone
                        logger.warning("could not cancel executor task %s: %s", outcome.task_id, exc)
            raise
        except TimeoutError as exc:
            raise _ExecutorLost(f"no answer within {self.handoff_timeout:g} s") from exc
        except Exception as exc:
            raise _ExecutorLost(f"{type(exc).__name__}: {exc}") from exc
        if not outcome.terminal:
            raise _ExecutorLost(f"stream ended with the task {outcome.state_name}")
        if outcome.state != TaskState.TASK_STATE_COMPLETED:
            raise AgentError(f"the executor ended {outcome.state_name}: {outcome.status_text}")
        raw = artifact_json(outcome.artifacts["results"]) if "results" in outcome.artifacts else None
        if not isinstance(raw, list):
            raise AgentError("the executor completed without results")
        return [StepResult.model_validate(item) for item in raw]

    async def _relay(self, updater: TaskUpdater, event: Any, round_no: int) -> None:
        kind = event.WhichOneof("payload")
        if kind == "status_update" and event.status_update.status.HasField("message"):
            text = text_of(event.status_update.status.message.parts)
            if text:
                await self._status(updater, "executor", text, round=round_no)
        elif kind == "artifact_update":
            artifact = event.artifact_update.artifact
            if artifact.name.startswith("step:"):
                await updater.add_artifact(
                    list(artifact.parts),
                    artifact_id=f"r{round_no}-{artifact.artifact_id}",
                    name=f"round-{round_no}/{artifact.name}",
                    metadata={"round": round_no, "hop": "executor"},
                )

    async def _review(
        self,
        updater: TaskUpdater,
        context: RequestContext,
        request: str,
        answer: str,
        results: list[StepResult],
        round_no: int,
    ) -> Verdict:
        body = ReviewRequest(goal=request, answer=answer, results=results, round=round_no)
        try:
            cards = await self.discovery.find_agents(REVIEW_SKILL)
        except AgentNotFound as exc:
            await self._status(updater, "planner", f"no reviewer ({exc}); checking locally", round=round_no)
            return review_deterministic(body)
        await self._status(updater, "planner", f"round {round_no}: answer to the reviewer", round=round_no)
        message = new_message([json_part(body.model_dump(mode="json"))], context_id=context.context_id or "")
        outcome = Outcome()
        try:
            with anyio.fail_after(self.handoff_timeout):
                async for event in stream_message(cards[0], message, http=self.http):
                    outcome.absorb(event)
        except Exception as exc:  # TimeoutError included: review locally rather than fail the answer
            await self._status(
                updater, "planner", f"reviewer unavailable ({type(exc).__name__}); checking locally"
            )
            return review_deterministic(body)
        raw = artifact_json(outcome.artifacts["verdict"]) if "verdict" in outcome.artifacts else None
        if raw is None:
            return review_deterministic(body)
        verdict = Verdict.model_validate(raw)
        label = (
            "approved"
            if verdict.approved
            else "rejected: " + "; ".join(i.message for i in verdict.issues[:3])
        )
        await self._status(updater, "reviewer", label, round=round_no, approved=verdict.approved)
        return verdict


def _card_url(card: AgentCard) -> str:
    return card.supported_interfaces[0].url if card.supported_interfaces else card.name


def _is_flagged(result: StepResult, verdict: Verdict) -> bool:
    return any(i.step_id == result.step_id and i.severity == "error" for i in verdict.issues)
