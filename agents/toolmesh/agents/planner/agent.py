"""The planner agent: the reasoning loop over the mesh, with its executor and reviewer hops, over A2A.

Input: text (the request) and/or a JSON part holding a plan. Everything the caller should see is streamed:
status updates for each hop and step (``metadata.hop`` = planner | executor | reviewer), the executor's
step artifacts relayed as ``round-N/step:ID``, one ``round-N`` artifact per loop round (why, the calls,
their outcomes), one ``review-K`` artifact per review, and finally ``answer`` (text), ``evidence`` (JSON),
``outcome`` (per part: route, status, reason) and ``memory`` (the turn, for follow-ups in the same
context). A request that needs a choice ends ``input-required`` with a specific question; the caller's
reply (same task and context ids) resumes it. So does an executor's request for approval of calls that
are not read-only (:mod:`~toolmesh.agents.planner.relay`): the same calls, and the caller's answer relayed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
import httpx
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskStore, TaskUpdater
from a2a.types import AgentCard, AgentSkill, ListTasksRequest, Message, Part, Task, TaskState
from opentelemetry.trace import Status, StatusCode

from toolmesh.agents.approvals import approval_parts, request_of
from toolmesh.agents.balancer import Balancer, Lease, agent_url
from toolmesh.agents.catalog import CatalogCache
from toolmesh.agents.conversation import Turn, fit
from toolmesh.agents.discovery import Discovery
from toolmesh.agents.errors import AgentError, AgentNotFound
from toolmesh.agents.executor.agent import EXECUTE_SKILL
from toolmesh.agents.executor.results import StepResult
from toolmesh.agents.gateway import Gateway
from toolmesh.agents.model import ChatModel
from toolmesh.agents.plan import Plan, parse_plan, validate_plan
from toolmesh.agents.planner.answer import given_work
from toolmesh.agents.planner.loop import Budget, Policy, Work
from toolmesh.agents.planner.memory import MemoryTools
from toolmesh.agents.planner.model_policy import ModelPolicy
from toolmesh.agents.planner.policy import DeterministicPolicy
from toolmesh.agents.planner.relay import RELAY_ARTIFACT, ApprovalNeeded, RelayState, Replay, relay_state
from toolmesh.agents.planner.turn import Outcome, TurnRunner
from toolmesh.agents.planner.writing import ModelWriter
from toolmesh.agents.reviewer.agent import REVIEW_SKILL
from toolmesh.agents.reviewer.checks import ReviewRequest, Verdict, review_deterministic
from toolmesh.agents.runtime import new_task, updater_for
from toolmesh.agents.tracing import extract_context, tracer
from toolmesh.agents.wire import (
    Outcome as HopOutcome,
)
from toolmesh.agents.wire import (
    artifact_json,
    cancel_remote,
    json_part,
    json_parts,
    new_message,
    stream_message,
    text_of,
)
from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.glossary import Glossary

__all__ = ["PLAN_SKILL", "PlannerAgent", "planner_skills"]

logger = logging.getLogger(__name__)

PLAN_SKILL = "plan-and-answer"
_STATES = {
    "completed": TaskState.TASK_STATE_COMPLETED,
    "input-required": TaskState.TASK_STATE_INPUT_REQUIRED,
    "failed": TaskState.TASK_STATE_FAILED,
}


def planner_skills() -> list[AgentSkill]:
    return [
        AgentSkill(
            id=PLAN_SKILL,
            name="Answer with evidence",
            description=(
                "Answers a question from the registered MCP servers (documents, databases, code): probes "
                "every source, follows the evidence (text-to-SQL over the linked schema, definitions and "
                "callers, cited passages), has a reviewer check that each part is answered, and keeps the "
                "conversation of an A2A context for follow-ups. Accepts text, or a plan as a JSON part."
            ),
            tags=["planner", "rag", "sql", "text-to-sql", "code", "orchestration", "memory"],
            examples=[
                "What does the handbook say about refunds, how many orders were placed in 2024, "
                "and where is refund_order defined?",
                "哪个国家的订单最多？",
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
        task_store: TaskStore | None = None,
        glossary: Glossary | None = None,
        budget: Budget | None = None,
        memory_tokens: int = 1500,
        balancer: Balancer | None = None,
    ) -> None:
        self.discovery = discovery
        # which executor (and reviewer) gets each hop: least work this planner has open on it, then health
        self.balancer = balancer or Balancer(discovery)
        self.catalogs = catalogs
        self.instance = instance
        self.http = http
        self.model = model
        self.max_rounds = max_rounds
        self.handoff_timeout = handoff_timeout
        self.replacement_wait = replacement_wait
        self.task_store = task_store
        self.glossary = glossary
        self.budget = budget
        self.memory_tokens = memory_tokens

    # --- the request -----------------------------------------------------------------------------

    @staticmethod
    def _artifact(task: Task, name: str) -> Any:
        for artifact in task.artifacts:
            if artifact.name == name:
                return artifact_json(artifact)
        return None

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
            relay = relay_state(current) if resumed and current is not None else None
            replay: Replay | None = None
            try:
                payloads = json_parts(message_parts) if relay is None else []  # an approval answer
                if payloads:
                    body = payloads[0]
                    given = parse_plan(body["plan"] if isinstance(body, dict) and "plan" in body else body)
            except AgentError as exc:  # a JSON part that does not parse, or a malformed plan
                await updater.failed(updater.new_agent_message([Part(text=f"invalid plan: {exc}")]))
                return
            choices: dict[int, dict[str, Any]] = {}
            if relay is not None:
                try:
                    replay = Replay.answering(relay, message_parts)
                except ToolmeshError as exc:
                    note = f"could not read the answer: {exc}"
                    await updater.requires_input(
                        updater.new_agent_message(approval_parts(relay.request, note))
                    )
                    return
                request, given = relay.text, relay.given_plan()
            elif resumed and current is not None:
                request = str((self._artifact(current, "request") or {}).get("request") or "")
                options = self._artifact(current, "clarification") or []
                choices = _choose(text, options)
                if any(isinstance(o, dict) and o.get("kind") == "vague" for o in options):
                    request = text  # "what should I look for?" — the reply is the request
                elif not choices:  # not one of the offered choices: read it as more of the request
                    request = f"{request} {text}".strip()
            else:
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
                if given is not None:
                    validate_plan(given, catalog.schemas(), skills=await self.discovery.skills())
                history = await self._history(context)
                lost: dict[int, list[str]] = {}  # executors lost mid-task, per round
                deterministic = DeterministicPolicy(catalog, glossary=self.glossary)
                policy: Policy = deterministic
                if self.model is not None and given is None:
                    # endpoints probed to yield no tool calls get the JSON protocol instead
                    native = (
                        await self.model.tool_calling("planner") if isinstance(self.model, Gateway) else True
                    )
                    policy = ModelPolicy(self.model, catalog, fallback=deterministic, native_tools=native)
                runner = TurnRunner(
                    policy,
                    lambda plan, n: self._execute(updater, context, plan, n, lost, replay),
                    lambda body: self._review(updater, context, body),
                    budget=self.budget,
                    review_rounds=self.max_rounds,
                    writer=ModelWriter(self.model) if self.model is not None else None,
                    memory=MemoryTools.find(catalog) if given is None else None,
                    context_id=context.context_id or "",
                )
                work = (
                    await self._given(updater, context, request, given, lost, replay)
                    if given is not None
                    else runner.prepare(request, history, choices)
                )
                outcome = await runner.run(work, request)
                if replay is not None and not replay.used:
                    work.notes.append(
                        "the plan that asked for approval was not made again; nothing was relayed"
                    )
                await self._finish(updater, context, work, outcome, lost)
            except ApprovalNeeded as needed:
                state = needed.state.model_copy(
                    update={"text": request, "given": given.model_dump(mode="json") if given else None}
                )
                await updater.add_artifact(
                    [json_part(state.model_dump(mode="json"))],
                    artifact_id=RELAY_ARTIFACT,
                    name=RELAY_ARTIFACT,
                )
                await updater.requires_input(updater.new_agent_message(approval_parts(state.request)))
            except ToolmeshError as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await updater.failed(updater.new_agent_message([Part(text=str(exc))]))

    async def _given(
        self,
        updater: TaskUpdater,
        context: RequestContext,
        request: str,
        given: Plan,
        lost: dict[int, list[str]],
        replay: Replay | None = None,
    ) -> Work:
        """The caller's own plan, run as is: one part, answered by every step of it."""
        return given_work(request, await self._execute(updater, context, given, 1, lost, replay))

    async def _history(self, context: RequestContext) -> list[Turn]:
        """The turns already answered in this context (newest last), trimmed to the memory budget."""
        if self.task_store is None or not context.context_id:
            return []
        call = context.call_context or ServerCallContext()
        try:
            page = await self.task_store.list(
                ListTasksRequest(context_id=context.context_id, page_size=20, include_artifacts=True), call
            )
        except Exception as exc:  # memory is a help, never a reason to fail the turn
            logger.warning("could not read the conversation of context %s: %s", context.context_id, exc)
            return []
        turns = []
        for task in page.tasks:
            if task.id == context.task_id:
                continue
            value = self._artifact(task, "memory")
            if isinstance(value, dict):
                try:
                    turn = Turn.model_validate(value)
                except ValueError:
                    continue
                turn.task_id = task.id
                turns.append(turn)
        kept, trimmed = fit(turns, self.memory_tokens)
        if kept and trimmed:
            kept[-1].trimmed = trimmed
        return kept

    async def _finish(
        self,
        updater: TaskUpdater,
        context: RequestContext,
        work: Work,
        outcome: Outcome,
        lost: dict[int, list[str]],
    ) -> None:
        records = [r.model_dump(mode="json") for r in outcome.records]
        if not records and work.rounds:  # a caller's own plan ran as round 1
            records = [{"round": 1, "why": "the caller's plan", "calls": [], "steps": []}]
        for body in records:
            body["executors_lost"] = lost.get(body["round"], [])
            name = f"round-{body['round']}"
            await updater.add_artifact([json_part(body)], artifact_id=name, name=name)
        for review in outcome.reviews:
            await updater.add_artifact(
                [json_part(review)], artifact_id=f"review-{review['round']}", name=f"review-{review['round']}"
            )
        for note in work.notes:
            await self._status(updater, "planner", note)
        draft = outcome.draft
        if draft is not None:
            await updater.add_artifact(
                [json_part([e.model_dump(mode="json") for e in draft.evidence])],
                artifact_id="evidence",
                name="evidence",
            )
        summary = {
            "kind": outcome.kind,
            "policy": outcome.policy,
            "rounds": work.rounds,
            "notes": work.notes,
            "parts": [p.model_dump(mode="json") for p in (draft.parts if draft else [])],
            "resolved_from": [pw.resolved_from for pw in work.parts],
            # why each part went where it did: every source's score and the routes review sent it away from
            "scores": [{r: round(s, 3) for r, s in pw.scores.items()} for pw in work.parts],
            "tried": [pw.memory.get("tried", []) for pw in work.parts],
            "memories_used": [
                {"id": m.id, "text": m.text[:200], "kind": m.kind} for m in work.shared.get("memories") or []
            ],
            "writer": outcome.writer,
            # every model call: endpoint, cache hit, tokens, retries, endpoints passed over, cost
            "model_calls": work.shared.get("model_calls") or [],
        }
        await updater.add_artifact([json_part(summary)], artifact_id="outcome", name="outcome")
        if outcome.turn is not None and outcome.state != "input-required":
            await updater.add_artifact(
                [json_part(outcome.turn.model_dump(mode="json"))], artifact_id="memory", name="memory"
            )
        message = updater.new_agent_message([Part(text=outcome.question or outcome.answer)])
        if outcome.state == "input-required":
            await updater.add_artifact(
                [json_part(outcome.options)], artifact_id="clarification", name="clarification"
            )
            await updater.requires_input(message)
            return
        await updater.add_artifact([Part(text=outcome.answer)], artifact_id="answer", name="answer")
        if outcome.state == "failed":
            await updater.failed(message)
        else:
            await updater.complete(message)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = updater_for(context, event_queue)
        relay = relay_state(context.current_task) if context.current_task is not None else None
        if relay is not None:  # the executor task waiting for the answer is cancelled with this one
            with anyio.move_on_after(5):
                try:
                    card = await self.balancer.find(EXECUTE_SKILL, relay.executor_url)
                    await cancel_remote(card, relay.executor_task, http=self.http)
                except Exception as exc:  # best effort: the planner's own task is cancelled either way
                    logger.warning("could not cancel executor task %s: %s", relay.executor_task, exc)
        await updater.cancel(updater.new_agent_message([Part(text="canceled by the caller")]))

    # --- hops ------------------------------------------------------------------------------------

    async def _status(self, updater: TaskUpdater, hop: str, text: str, **meta: Any) -> None:
        await updater.update_status(
            TaskState.TASK_STATE_WORKING,
            updater.new_agent_message([Part(text=f"[{hop}] {text}")]),
            metadata={"hop": hop, **meta},
        )

    async def _execute(
        self,
        updater: TaskUpdater,
        context: RequestContext,
        plan: Plan,
        round_no: int,
        lost_log: dict[int, list[str]],
        replay: Replay | None = None,
    ) -> list[StepResult]:
        """Run ``plan`` on an executor found by skill. When one is lost mid-task, the plan is resumed on
        another (waiting up to ``replacement_wait`` s for one to register). The plan that asked for approval
        is not sent again: the caller's answer goes to the executor task that asked (``replay``)."""
        if replay is not None and replay.matches(plan):
            return await self._answer_executor(updater, context, plan, round_no, replay)
        await self._status(
            updater,
            "planner",
            f"round {round_no}: {len(plan.steps)} call(s) — {plan.rationale}",
            round=round_no,
        )
        gone: set[str] = set()
        lost = lost_log.setdefault(round_no, [])
        deadline = anyio.current_time() + self.replacement_wait
        while True:
            lease = await self._executor_lease(gone)
            if lease is None:
                if anyio.current_time() >= deadline:
                    break
                await anyio.sleep(0.25)
                await self.discovery.refresh()
                continue
            try:
                with lease:
                    return await self._execute_on(updater, context, lease.card, plan, round_no)
            except _ExecutorLost as exc:
                url = lease.url
                gone.add(url)
                lost.append(f"{url}: {exc}")
                await self.discovery.refresh()
                await self._status(
                    updater,
                    "planner",
                    f"executor {url} lost mid-task ({exc}); resuming elsewhere",
                    round=round_no,
                    executors_lost=lost,
                )
        raise AgentError(
            f"the plan could not be executed: {'; '.join(lost)}",
            hint="Every executor found by skill was lost mid-task; start one and ask again.",
        )

    async def _executor_lease(self, gone: set[str]) -> Lease | None:
        """The balancer's executor among those not lost yet (AgentNotFound when none was ever found)."""
        try:
            return await self.balancer.lease(EXECUTE_SKILL, avoid=gone)
        except AgentNotFound:
            if not gone:
                raise
            return None

    async def _answer_executor(
        self, updater: TaskUpdater, context: RequestContext, plan: Plan, round_no: int, replay: Replay
    ) -> list[StepResult]:
        """Send the caller's approval answer to the executor task that asked; its results for the round."""
        replay.used = True
        url = replay.state.executor_url
        try:
            card = await self.balancer.find(EXECUTE_SKILL, url)
        except AgentNotFound as exc:
            raise AgentNotFound(
                f"the executor {url} that holds the calls waiting for approval is gone",
                hint="Ask again: a new plan goes to a running executor and asks again.",
            ) from exc
        await self._status(
            updater, "planner", f"round {round_no}: answer relayed to the executor", round=round_no
        )
        try:
            with self.balancer.hold(card):
                return await self._execute_on(
                    updater, context, card, plan, round_no, follow_up=replay.message()
                )
        except _ExecutorLost as exc:
            raise AgentError(
                f"the executor {url} was lost while running the approved calls: {exc}",
                hint="Its task in the executor's store says which ran; ask again to run the rest.",
            ) from exc

    async def _execute_on(
        self,
        updater: TaskUpdater,
        context: RequestContext,
        card: AgentCard,
        plan: Plan,
        round_no: int,
        follow_up: Message | None = None,
    ) -> list[StepResult]:
        message = follow_up or new_message(
            [json_part({"plan": plan.model_dump(mode="json")})],
            context_id=context.context_id or "",
            metadata={"caller_task": context.task_id or "", "round": round_no},
        )
        outcome = HopOutcome()
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
        asked = request_of(outcome.status_parts)
        if outcome.state == TaskState.TASK_STATE_INPUT_REQUIRED and asked is not None:
            raise ApprovalNeeded(
                RelayState(
                    executor_url=agent_url(card),
                    executor_task=outcome.task_id,
                    executor_context=outcome.context_id,
                    plan=plan.model_dump(mode="json"),
                    request=asked,
                )
            )
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

    async def _review(self, updater: TaskUpdater, context: RequestContext, body: ReviewRequest) -> Verdict:
        round_no = body.round
        try:
            lease = await self.balancer.lease(REVIEW_SKILL)
        except AgentNotFound as exc:
            await self._status(updater, "planner", f"no reviewer ({exc}); checking locally", round=round_no)
            return review_deterministic(body)
        await self._status(updater, "planner", f"review {round_no}: answer to the reviewer", round=round_no)
        message = new_message([json_part(body.model_dump(mode="json"))], context_id=context.context_id or "")
        outcome = HopOutcome()
        try:
            with lease, anyio.fail_after(self.handoff_timeout):
                async for event in stream_message(lease.card, message, http=self.http):
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
            else "rejected: " + "; ".join(i.message for i in verdict.issues if i.severity == "error")[:600]
        )
        await self._status(updater, "reviewer", label, round=round_no, approved=verdict.approved)
        return verdict


def _choose(reply: str, options: Any) -> dict[int, dict[str, Any]]:
    """The offered choices the caller's reply picks (by the words of their labels), per part."""
    from toolmesh.agents.question import content_terms

    if not isinstance(options, list):
        return {}
    said = set(content_terms(reply.replace("_", " ").replace(".", " ")))
    chosen: dict[int, dict[str, Any]] = {}
    for option in options:
        if not isinstance(option, dict):
            continue
        words = set(
            content_terms(
                f"{option.get('label', '')} {option.get('route', '')}".replace("_", " ").replace(".", " ")
            )
        )
        score = len(words & said)
        part = int(option.get("part", 0))
        if score and score > chosen.get(part, {}).get("_score", 0):
            chosen[part] = {**option, "_score": score}
    return chosen
