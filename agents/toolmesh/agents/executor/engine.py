"""Run a plan: independent steps concurrently, each tool call with a timeout, retries with backoff,
a circuit breaker per server, fallback to another server offering the same tool, and a result cache.

Cancelling :meth:`Engine.run` cancels every running step, and with it the in-flight MCP requests.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Status, StatusCode

from toolmesh.agents.approvals import NOT_APPROVED, Approvals, is_unapproved
from toolmesh.agents.catalog import Catalog, ToolInfo
from toolmesh.agents.errors import (
    AgentError,
    CircuitOpen,
    PlanError,
    StepTimeout,
    ToolCallError,
    TransientToolError,
)
from toolmesh.agents.executor.breaker import BreakerBoard
from toolmesh.agents.executor.cache import ResultCache
from toolmesh.agents.executor.results import StepEvent, StepResult, failed_result, skipped_result
from toolmesh.agents.mcp import McpPool, ToolOutcome
from toolmesh.agents.plan import Handoff, Plan, Step, StepOutput, ToolCall, resolve_arguments
from toolmesh.agents.tracing import tracer

__all__ = ["Engine", "EngineSettings", "HandoffRunner", "StepEvent", "StepResult"]

HandoffRunner = Callable[[Step, Handoff], Awaitable[StepOutput]]


EventSink = Callable[[StepEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    call_timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.2
    backoff_max: float = 3.0
    max_parallel: int = 8


async def _no_events(event: StepEvent) -> None:
    return None


class Engine:
    """Runs plans against MCP servers (through a :class:`McpPool`) and handoffs (through a runner)."""

    def __init__(
        self,
        pool: McpPool,
        *,
        settings: EngineSettings | None = None,
        breakers: BreakerBoard | None = None,
        cache: ResultCache | None = None,
        handoff: HandoffRunner | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pool = pool
        self.settings = settings or EngineSettings()
        self.breakers = breakers or BreakerBoard()
        self.cache = cache if cache is not None else ResultCache()
        self.handoff = handoff
        self.sleep = sleep

    async def run(
        self,
        plan: Plan,
        catalog: Catalog,
        *,
        on_event: EventSink | None = None,
        principal: str | None = None,
        approvals: Approvals | None = None,
        prior: Mapping[str, StepResult] | None = None,
    ) -> list[StepResult]:
        """The result of every step that ended, in plan order. Failed dependencies skip their dependents.

        With ``approvals``, a tool that is not read-only runs only as :class:`Approvals` clears it; the
        calls that wait for an answer are added to ``approvals.pending`` and have no result (nor have
        their dependents). ``prior`` are results of an earlier run of the same plan, kept as they are.
        """
        sink = on_event or _no_events
        done: dict[str, asyncio.Event] = {step.id: asyncio.Event() for step in plan.steps}
        results: dict[str, StepResult] = dict(prior or {})
        gate = asyncio.Semaphore(self.settings.max_parallel)

        async def run_one(step: Step) -> None:
            try:
                deps = sorted(step.dependencies())
                for dep in deps:
                    await done[dep].wait()
                if step.id in results or any(d not in results for d in deps):
                    return  # ran before, or waits behind a call waiting for approval
                failed = [d for d in deps if results[d].status != "ok"]
                unapproved = [d for d in failed if is_unapproved(results[d].status, results[d].error)]
                if unapproved:
                    result = skipped_result(
                        step, f"{NOT_APPROVED}: step(s) {', '.join(unapproved)} were not approved"
                    )
                elif failed:
                    result = skipped_result(step, f"skipped: step(s) {', '.join(failed)} did not succeed")
                else:
                    async with gate:
                        found = await self._run_step(step, catalog, results, sink, principal, approvals)
                    if found is None:
                        return
                    result = found
                results[step.id] = result
                await sink(StepEvent(step_id=step.id, phase="end", message=result.status, result=result))
            finally:
                done[step.id].set()

        async with asyncio.TaskGroup() as group:
            for step in plan.steps:
                group.create_task(run_one(step), name=f"step-{step.id}")
        return [results[step.id] for step in plan.steps if step.id in results]

    async def _run_step(
        self,
        step: Step,
        catalog: Catalog,
        results: dict[str, StepResult],
        sink: EventSink,
        principal: str | None,
        approvals: Approvals | None = None,
    ) -> StepResult | None:
        started = time.perf_counter()
        outputs = {sid: r.output() for sid, r in results.items() if r.status == "ok"}
        action = step.action
        with tracer().start_as_current_span(f"step {step.id}") as span:
            span.set_attribute("toolmesh.step.id", step.id)
            span.set_attribute("toolmesh.step.kind", action.kind)
            try:
                if isinstance(action, ToolCall):
                    arguments = resolve_arguments(action.arguments, outputs)
                    if not isinstance(arguments, dict):
                        raise PlanError(f"arguments of step {step.id!r} did not resolve to an object")
                    span.set_attribute("toolmesh.tool", f"{action.server}.{action.tool}")
                    tools = catalog.candidates(action.server, action.tool)
                    clearance = approvals.clear(step, action, tools, arguments) if approvals else None
                    if clearance is not None and clearance.action == "wait":
                        return None
                    if clearance is not None and clearance.action == "skip":
                        return skipped_result(step, clearance.reason).model_copy(
                            update={"approval": "denied", "approved_by": clearance.by, "arguments": arguments}
                        )
                    if clearance is not None:
                        arguments = clearance.arguments
                    await sink(
                        StepEvent(step_id=step.id, phase="start", message=f"{action.server}.{action.tool}")
                    )
                    result = await self._call(step, action, arguments, catalog, sink, principal)
                    if clearance is not None and clearance.approval is not None:
                        result.approval, result.approved_by = clearance.approval, clearance.by
                else:
                    message = resolve_arguments(action.message, outputs)
                    await sink(
                        StepEvent(step_id=step.id, phase="start", message=f"handoff to {action.skill}")
                    )
                    result = await self._handoff(step, action.model_copy(update={"message": str(message)}))
            except AgentError as exc:
                result = failed_result(step, str(exc))
            if result.status != "ok":
                span.set_status(Status(StatusCode.ERROR, result.error or result.status))
            result.elapsed_ms = (time.perf_counter() - started) * 1000
            return result

    async def _handoff(self, step: Step, action: Handoff) -> StepResult:
        base = StepResult(step_id=step.id, kind="handoff", status="ok", skill=action.skill, attempts=1)
        if self.handoff is None:
            return base.model_copy(update={"status": "error", "error": "this executor cannot hand off"})
        try:
            output = await self.handoff(step, action)
        except AgentError as exc:
            return base.model_copy(update={"status": "error", "error": str(exc)})
        return base.model_copy(update={"structured": output.structured, "text": output.text})

    async def _call(
        self,
        step: Step,
        action: ToolCall,
        arguments: dict[str, Any],
        catalog: Catalog,
        sink: EventSink,
        principal: str | None,
    ) -> StepResult:
        base = StepResult(
            step_id=step.id,
            kind="tool",
            status="ok",
            tool=action.tool,
            server_name=action.server,
            arguments=arguments,
        )
        candidates = catalog.candidates(action.server, action.tool)
        if not candidates:
            return base.model_copy(
                update={
                    "status": "error",
                    "error": f"no registered server offers tool {action.tool!r} "
                    f"(asked for {action.server!r})",
                }
            )
        key = ResultCache.key(candidates[0].server.name, action.tool, arguments, principal)
        if candidates[0].cacheable:
            hit = self.cache.get(key)
            if hit is not None:
                return _ok(base, candidates[0], hit, attempts=0, cached=True)
        timeout = step.timeout or self.settings.call_timeout
        attempts = 0
        last_error = ""
        for index, info in enumerate(candidates):
            server = info.server
            base.tried.append(server.id)
            if index > 0:
                await sink(
                    StepEvent(step_id=step.id, phase="fallback", message=f"trying {server.id}: {last_error}")
                )
            for attempt in range(self.settings.retries + 1):
                try:
                    self.breakers.check(server.id)
                except CircuitOpen as exc:
                    last_error = str(exc)
                    break
                attempts += 1
                try:
                    outcome = await self.pool.call(server, action.tool, arguments, time_limit=timeout)
                except ToolCallError as exc:
                    self.breakers.success(server.id)  # the server is well; the call was wrong
                    return base.model_copy(
                        update={
                            "status": "error",
                            "error": str(exc),
                            "attempts": attempts,
                            "server": server.id,
                        }
                    )
                except (TransientToolError, StepTimeout) as exc:
                    self.breakers.failure(server.id)
                    last_error = str(exc)
                    if attempt < self.settings.retries and self.breakers.state(server.id) == "closed":
                        delay = min(self.settings.backoff_max, self.settings.backoff * 2**attempt)
                        delay *= 0.5 + random.random() / 2
                        await sink(
                            StepEvent(
                                step_id=step.id,
                                phase="retry",
                                message=f"attempt {attempt + 2} in {delay:.2f} s: {last_error}",
                            )
                        )
                        await self.sleep(delay)
                        continue
                    break
                self.breakers.success(server.id)
                if info.cacheable:
                    self.cache.put(key, outcome)
                return _ok(base, info, outcome, attempts=attempts, cached=False)
        tried = ", ".join(base.tried)
        return base.model_copy(
            update={
                "status": "error",
                "attempts": attempts,
                "error": f"{action.server}.{action.tool} failed on every server offering it "
                f"({tried}): {last_error}",
            }
        )


def _ok(base: StepResult, info: ToolInfo, outcome: ToolOutcome, *, attempts: int, cached: bool) -> StepResult:
    return base.model_copy(
        update={
            "server": info.server.id,
            "server_name": info.server.name,
            "structured": outcome.structured,
            "text": outcome.text,
            "attempts": attempts,
            "cached": cached,
        }
    )
