"""The reasoning loop: plan → execute → observe → decide, in bounded rounds.

A :class:`Policy` looks at the :class:`Work` so far and either asks for a round of tool calls (run in
parallel on an executor, one plan per round) or says it is ready to answer. :class:`Loop` runs rounds until
the policy is done or a budget runs out — rounds, wall time, model tokens — and records every round
(:class:`RoundRecord`) for the task's artifacts. The deterministic policy and the model policy drive the
same loop; the model policy falls back to the deterministic one when the model fails, and says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from toolmesh.agents.capabilities import Choice
from toolmesh.agents.executor.results import StepResult
from toolmesh.agents.plan import Plan, Step, ToolCall
from toolmesh.agents.question import Part, Question
from toolmesh.agents.text2sql import Translation

__all__ = [
    "Budget",
    "Call",
    "Loop",
    "PartWork",
    "Policy",
    "RoundRecord",
    "Work",
]

Route = Literal["docs", "sql", "code", "trace", "schema", "tool", "given", "memory"]
PartStatus = Literal["open", "answered", "unanswerable", "clarify"]
RunPlan = Callable[[Plan, int], Awaitable[list[StepResult]]]


class Call(BaseModel):
    """One tool call a policy asks for, tagged with the part of the question it serves."""

    part: int
    purpose: str = Field(description="What the call is for: probe:docs, describe, values, query, ...")
    server: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, choice: Choice, part: int, purpose: str, value: Any = None, **extra: Any) -> Call:
        """A call of the tool ``choice`` found: ``value`` in its input argument, the ``extra`` arguments
        the tool has (the others dropped)."""
        arguments = dict(extra)
        if choice.argument is not None and value is not None:
            arguments[choice.argument] = value
        props = choice.tool.properties()
        arguments = {k: v for k, v in arguments.items() if k in props or k == choice.argument}
        server, tool = choice.tool.server.name, choice.tool.name
        return cls(part=part, purpose=purpose, server=server, tool=tool, arguments=arguments)

    def signature(self) -> str:
        return json.dumps([self.server, self.tool, self.arguments], sort_keys=True, default=str)


@dataclass(slots=True)
class PartWork:
    """Everything the loop knows about one part of the question."""

    index: int
    part: Part
    asked: str = ""  # the words of the request itself (part.text may be resolved against an earlier turn)
    route: Route | None = None
    stage: str = "start"
    status: PartStatus = "open"
    reason: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[Call, str]] = field(default_factory=list)  # (call, step id)
    translation: Translation | None = None
    sql: str | None = None
    repairs: int = 0
    clarify: str | None = None
    options: list[dict[str, str]] = field(default_factory=list)
    resolved_from: str | None = None  # the earlier turn a follow-up was resolved against
    memory: dict[str, Any] = field(default_factory=dict)  # what the next turn may build on

    def results(self, work: Work, purpose: str | None = None) -> list[tuple[Call, StepResult]]:
        out = []
        for call, step_id in self.calls:
            if (purpose is None or call.purpose == purpose or call.purpose.startswith(purpose + ":")) and (
                step_id in work.results
            ):
                out.append((call, work.results[step_id]))
        return out

    def last(self, work: Work, purpose: str) -> StepResult | None:
        found = self.results(work, purpose)
        return found[-1][1] if found else None

    def step_ids(self) -> list[str]:
        return [step_id for _, step_id in self.calls]


@dataclass(slots=True)
class Work:
    """The whole request in flight: its parts, every result so far, the rounds run."""

    question: Question
    parts: list[PartWork]
    results: dict[str, StepResult] = field(default_factory=dict)
    rounds: int = 0
    tokens: int = 0
    notes: list[str] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)  # per-request facts (e.g. the SQL dialect)

    def ok_results(self) -> list[StepResult]:
        return [r for r in self.results.values() if r.status == "ok"]


class RoundRecord(BaseModel):
    round: int
    why: str
    calls: list[Call]
    steps: list[dict[str, Any]] = Field(default_factory=list)


class Policy(Protocol):
    """Decides each round's calls; ``None`` means it has what it needs to answer."""

    name: str

    async def next_round(self, work: Work) -> tuple[list[Call], str] | None: ...


@dataclass(slots=True)
class Budget:
    """Bounds on one request's loop: rounds, wall time (seconds) and model tokens."""

    rounds: int = 8
    seconds: float = 120.0
    tokens: int = 60_000
    clock: Callable[[], float] = time.monotonic


class Loop:
    """Runs a policy's rounds through ``run_plan`` (one executor hop per round) within a budget."""

    def __init__(self, policy: Policy, run_plan: RunPlan, budget: Budget | None = None) -> None:
        self.policy = policy
        self.run_plan = run_plan
        self.budget = budget or Budget()
        self.records: list[RoundRecord] = []
        self._started = self.budget.clock()

    def exhausted(self, work: Work) -> str | None:
        """Which budget is spent, or None."""
        if work.rounds >= self.budget.rounds:
            return f"the round budget ({self.budget.rounds}) is spent"
        if self.budget.clock() - self._started >= self.budget.seconds:
            return f"the time budget ({self.budget.seconds:g} s) is spent"
        if work.tokens >= self.budget.tokens:
            return f"the token budget ({self.budget.tokens}) is spent"
        return None

    async def run(self, work: Work) -> None:
        """Rounds until the policy is done or a budget is spent (noted on ``work``)."""
        while True:
            spent = self.exhausted(work)
            if spent is not None:
                work.notes.append(f"stopped: {spent}")
                return
            decided = await self.policy.next_round(work)
            if decided is None:
                return
            calls, why = decided
            if not calls:
                return
            await self.execute(work, calls, why)

    async def execute(self, work: Work, calls: Sequence[Call], why: str) -> None:
        work.rounds += 1
        steps: list[Step] = []
        seen: dict[str, str] = {}
        base = len(work.results) + sum(len(p.calls) for p in work.parts) + 1
        for call in calls:
            sig = call.signature()
            if sig in seen:  # the same call for two parts runs once
                work.parts[call.part].calls.append((call, seen[sig]))
                continue
            step_id = f"r{work.rounds}s{base + len(steps)}"
            seen[sig] = step_id
            steps.append(
                Step(
                    id=step_id,
                    action=ToolCall(server=call.server, tool=call.tool, arguments=call.arguments),
                    purpose=f"part {call.part + 1}: {call.purpose}",
                )
            )
            work.parts[call.part].calls.append((call, step_id))
        plan = Plan(goal=work.question.text[:20_000], steps=steps, rationale=why[:20_000])
        results = await self.run_plan(plan, work.rounds)
        for result in results:
            work.results[result.step_id] = result
        self.records.append(
            RoundRecord(
                round=work.rounds,
                why=why,
                calls=list(calls),
                steps=[{"id": r.step_id, "status": r.status, "error": r.error} for r in results],
            )
        )
