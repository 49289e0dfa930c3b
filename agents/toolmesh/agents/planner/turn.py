"""One turn of a conversation: read the request, resolve follow-ups, loop, answer, review, decide.

:class:`TurnRunner` is the planner without A2A: given a way to run a plan (an executor hop) and to review
(a reviewer hop), it runs the reasoning loop, writes the answer, has it reviewed, gives the policy the
verdict for another pass (bounded), and settles the outcome honestly:

- approved → ``completed``;
- some parts need a choice → ``input-required`` with a specific question and the candidates;
- still rejected → the parts the evidence supports are kept and the rest marked as not answered
  (``completed``, outcome ``partial``), or, when nothing is supported, ``failed`` with what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from toolmesh.agents.conversation import (
    Turn,
    TurnPart,
    is_follow_up,
    leans_on_part_before,
    resolve,
    words_for_memory,
)
from toolmesh.agents.evidence import extract_evidence
from toolmesh.agents.executor.results import StepResult
from toolmesh.agents.planner.answer import Draft, write_brief
from toolmesh.agents.planner.loop import Budget, Loop, PartWork, Policy, RoundRecord, RunPlan, Work
from toolmesh.agents.planner.memory import MemoryTools, fact_to_remember, recalled
from toolmesh.agents.question import analyse
from toolmesh.agents.reviewer.checks import ReviewRequest, Verdict

__all__ = ["Outcome", "ReviewHop", "TurnRunner", "Writer"]

ReviewHop = Callable[[ReviewRequest], Awaitable[Verdict]]
Writer = Callable[[Work, Draft], Awaitable[tuple[str, dict[str, Any]]]]
State = Literal["completed", "input-required", "failed"]


@dataclass(slots=True)
class Outcome:
    state: State
    answer: str
    kind: Literal["answered", "partial", "clarify", "unanswered"]
    draft: Draft | None = None
    verdict: Verdict | None = None
    question: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    turn: Turn | None = None
    records: list[RoundRecord] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    writer: dict[str, Any] = field(default_factory=dict)
    policy: str = "deterministic"


class TurnRunner:
    def __init__(
        self,
        policy: Policy,
        run_plan: RunPlan,
        review: ReviewHop,
        *,
        budget: Budget | None = None,
        review_rounds: int = 2,
        writer: Writer | None = None,
        memory: MemoryTools | None = None,
        context_id: str = "",
    ) -> None:
        self.policy = policy
        self.loop = Loop(policy, run_plan, budget)
        self.review = review
        self.review_rounds = review_rounds
        self.writer = writer
        self.memory = memory
        self.context_id = context_id

    def prepare(
        self, request: str, history: Sequence[Turn] = (), choices: dict[int, dict[str, Any]] | None = None
    ) -> Work:
        """The work for ``request``: its parts, follow-ups resolved against the latest turn."""
        question = analyse(request)
        parts: list[PartWork] = []
        previous = history[-1].parts if history else []
        for i, part in enumerate(question.parts):
            pw = PartWork(index=i, part=part, asked=part.text)
            if previous and i == 0 and is_follow_up(part):
                before = previous[min(i, len(previous) - 1)]
                pw.part = resolve(part, before)
                pw.resolved_from = before.resolved
                if before.route:
                    pw.memory["prior_route"] = before.route
                pw.memory["prior_columns"] = _filter_columns(before.frame)
            elif i > 0 and leans_on_part_before(part):  # "… the United States, and how many went there?"
                earlier = parts[i - 1].part
                before = TurnPart(
                    text=earlier.text,
                    resolved=earlier.text,
                    words=words_for_memory(earlier),
                    identifiers=list(earlier.identifiers),
                )
                pw.part = resolve(part, before)
                pw.resolved_from = earlier.text
            choice = (choices or {}).get(i)
            if choice is not None:
                _apply_choice(pw, choice)
            parts.append(pw)
        return Work(question=question, parts=parts)

    async def run(self, work: Work, request: str) -> Outcome:
        if self.memory is not None and work.parts:
            fact = fact_to_remember(request)
            if fact is not None and self.memory.remember is not None:
                return await self._remember(work, request, fact)
            await self._recall(work, request)
        outcome = await self._answer(work, request)
        told = [m for m in work.shared.get("memories") or [] if m.kind == "fact"]
        if outcome.state == "failed" and outcome.kind == "unanswered" and told:
            # no source has it, but the user said it: say both, the memory quoted and cited (an earlier
            # answer of this conversation answered another question, so it does not complete this one)
            draft = write_brief(work)
            turn = _turn(work, request, draft)
            return Outcome(
                "completed", draft.text, "partial", draft=draft, turn=turn, records=self.loop.records
            )
        if self.memory is not None and outcome.state == "completed" and outcome.kind == "answered":
            first = next((line for line in outcome.answer.splitlines() if line.strip()), "")
            await self._store(work, f"{request} → {first}", "task")
        return outcome

    async def _recall(self, work: Work, request: str) -> None:
        """Memories of this context (and the global scope) that are about the request, for the answer."""
        assert self.memory is not None
        call = self.memory.recall_call(request, self.context_id)
        if call is None:
            return
        await self.loop.execute(work, [call], "recall what was remembered about this")
        work.shared["memories"] = recalled(
            request, [r for _, r in work.parts[0].results(work, "memory:recall")]
        )

    async def _corrections(self, work: Work, verdict: Verdict) -> None:
        """What review corrected, remembered for this context: the part, the route and why it was wrong."""
        for pw in _rejected_parts(work, verdict)[:2]:
            why = next(
                (i.message for i in verdict.issues if i.severity == "error" and _about(i.message, pw)), ""
            )
            if why and pw.route:
                text = f"For {pw.asked or pw.part.text!r}, the answer from {pw.route} was rejected: {why}"
                await self._store(work, text[:2000], "correction")

    async def _store(self, work: Work, text: str, kind: str) -> StepResult | None:
        assert self.memory is not None
        call = self.memory.remember_call(text, kind, self.context_id)
        if call is None:
            return None
        await self.loop.execute(work, [call], f"remember the {kind}")
        stored = work.parts[0].results(work, "memory:remember")
        return stored[-1][1] if stored else None

    async def _remember(self, work: Work, request: str, fact: str) -> Outcome:
        """A request to remember a fact: stored for this conversation, answered with what was stored."""
        result = await self._store(work, fact, "fact")
        part = work.parts[0]
        part.route, part.stage = "memory", "done"
        if result is None or result.status != "ok":
            part.status, part.reason = "unanswerable", (result.error if result else None) or "not stored"
            why = f"Not remembered: {part.reason}"
            draft = Draft(text=why, parts=[], results=[r for r in [result] if r is not None])
            return Outcome("failed", why, "unanswered", draft=draft, records=self.loop.records)
        part.status = "answered"
        evidence = extract_evidence([result])
        draft = Draft(text=f"Remembered: {fact} [1]", parts=[], results=[result], evidence=evidence)
        turn = _turn(work, request, draft)
        return Outcome("completed", draft.text, "answered", draft=draft, turn=turn, records=self.loop.records)

    async def _answer(self, work: Work, request: str) -> Outcome:
        reviews: list[dict[str, Any]] = []
        draft: Draft | None = None
        verdict: Verdict | None = None
        answer = ""
        writer_meta: dict[str, Any] = {}
        for review_round in range(1, self.review_rounds + 1):
            await self.loop.run(work)
            clarify = [pw for pw in work.parts if pw.status == "clarify"]
            if clarify:
                draft = write_brief(work)
                question = " ".join(pw.clarify or "" for pw in clarify).strip()
                options = [{"part": pw.index, **o} for pw in clarify for o in pw.options]
                return Outcome(
                    "input-required",
                    draft.text,
                    "clarify",
                    draft=draft,
                    question=question,
                    options=options,
                    records=self.loop.records,
                    reviews=reviews,
                )
            draft = write_brief(work)
            answer, writer_meta = (await self.writer(work, draft)) if self.writer else (draft.text, {})
            if not any(pw.status == "answered" for pw in work.parts):
                break
            verdict = await self.review(
                ReviewRequest(
                    goal=request, answer=answer, results=draft.results, parts=draft.parts, round=review_round
                )
            )
            reviews.append(
                {"round": review_round, "verdict": verdict.model_dump(mode="json"), "answer": answer}
            )
            if not verdict.approved and self.memory is not None:
                await self._corrections(work, verdict)
            if verdict.approved or review_round == self.review_rounds:
                break
            if not _reopen(work, verdict):
                break
        assert draft is not None
        return self._settle(work, request, draft, verdict, answer, reviews, writer_meta)

    def _settle(
        self,
        work: Work,
        request: str,
        draft: Draft,
        verdict: Verdict | None,
        answer: str,
        reviews: list[dict[str, Any]],
        writer_meta: dict[str, Any],
    ) -> Outcome:
        answered = [pw for pw in work.parts if pw.status == "answered"]
        turn = _turn(work, request, draft)
        used = getattr(self.policy, "failed", None) is None
        common = {
            "draft": draft,
            "verdict": verdict,
            "turn": turn,
            "records": self.loop.records,
            "reviews": reviews,
            "writer": writer_meta,
            "policy": self.policy.name if used else f"{self.policy.name} → deterministic",
        }
        if not answered:
            missing = "; ".join(f"{pw.part.text!r}: {pw.reason or 'nothing answers it'}" for pw in work.parts)
            return Outcome("failed", f"Not found — {missing}", "unanswered", **common)  # type: ignore[arg-type]
        if verdict is None or verdict.approved:
            kind = "answered" if len(answered) == len(work.parts) else "partial"
            return Outcome("completed", answer, kind, **common)  # type: ignore[arg-type]
        rejected = _rejected_parts(work, verdict)
        for pw in rejected:
            pw.status = "unanswerable"
            pw.reason = "; ".join(
                i.message for i in verdict.issues if i.severity == "error" and _about(i.message, pw)
            )
        kept = [pw for pw in work.parts if pw.status == "answered"]
        if not kept:
            missing = "; ".join(i.message for i in verdict.issues if i.severity == "error")
            return Outcome("failed", f"No answer passed review: {missing}", "unanswered", **common)  # type: ignore[arg-type]
        marked = write_brief(work)  # the supported parts, the rest marked as not answered
        common["draft"] = marked
        common["turn"] = _turn(work, request, marked)
        return Outcome("completed", marked.text, "partial", **common)  # type: ignore[arg-type]


def _about(message: str, pw: PartWork) -> bool:
    return message.startswith(f"part {pw.index + 1} ") or f"part {pw.index + 1} (" in message


def _rejected_parts(work: Work, verdict: Verdict) -> list[PartWork]:
    errors = [i for i in verdict.issues if i.severity == "error"]
    named = [pw for pw in work.parts if any(_about(i.message, pw) for i in errors)]
    if named:
        return named
    # Issues that name no part (an unsupported number, a bad citation) put the whole answer in doubt.
    return [pw for pw in work.parts if pw.status == "answered"] if errors else []


def _reopen(work: Work, verdict: Verdict) -> bool:
    """Give rejected parts another route when their evidence was weak; True when anything reopened."""
    changed = False
    for pw in _rejected_parts(work, verdict):
        alternatives = sorted(
            ((r, s) for r, s in pw.scores.items() if r != pw.route and s >= 0.5), key=lambda rs: -rs[1]
        )
        if alternatives and pw.stage in {"done", "coded", "queried"}:
            route = alternatives[0][0]
            pw.scores.pop(pw.route or "", None)
            pw.status, pw.stage = "open", "decide"
            pw.memory["tried"] = [*pw.memory.get("tried", []), pw.route]
            pw.memory["forced_route"] = route
            changed = True
    return changed


def _apply_choice(pw: PartWork, choice: dict[str, Any]) -> None:
    """The caller's answer to a clarifying question: a source, or which of two columns."""
    label = str(choice.get("label") or "")
    if choice.get("route") == "sql" and "." in label:
        from dataclasses import replace

        from toolmesh.agents.question import analyse_part

        table, column = label.split(".", 1)
        hinted = analyse_part(f"{pw.part.text} ({table} {column.replace('_', ' ')})")
        pw.part = replace(hinted, inherited=pw.part.inherited, refers_back=pw.part.refers_back)
    elif choice.get("route"):
        pw.memory["forced_route"] = choice["route"]


def _without(text: str, words: set[str]) -> str:
    """``text`` without ``words`` (values a follow-up replaced, so the next turn does not see them again)."""
    for word in words:
        text = re.sub(rf"(?i)(?<![\w]){re.escape(word)}(?![\w])", " ", text)
    return " ".join(text.split())


def _turn(work: Work, request: str, draft: Draft) -> Turn:
    parts = []
    by_index = {p.index: p for p in draft.parts}
    for pw in work.parts:
        frame = pw.translation.frame if pw.translation is not None and pw.translation.sql == pw.sql else None
        replaced = {
            w for phrase in (pw.translation.replaced if pw.translation else []) for w in phrase.split()
        }
        parts.append(
            TurnPart(
                text=pw.part.text.split(" → ")[-1],
                resolved=_without(pw.part.text, replaced),  # "A → B" kept: the next turn reads B over A
                route=pw.route,
                status=pw.status,
                sql=pw.sql,
                frame=frame.model_dump(mode="json") if frame is not None else None,
                symbol=pw.memory.get("symbol"),
                identifiers=list(pw.part.identifiers),
                words=[w for w in words_for_memory(pw.part) if w not in replaced],
                answer=(by_index[pw.index].reason if pw.index in by_index else "")[:300],
                first=_first_row(work, pw),
            )
        )
    return Turn(request=request, parts=parts)


def _first_row(work: Work, pw: PartWork) -> list[str]:
    """The text cells of the first row a SQL part answered with (what "the number one" names next)."""
    if pw.route != "sql" or pw.status != "answered":
        return []
    for _, result in reversed(pw.results(work, "query")):  # the query the answer stands on
        rows = result.structured.get("rows") if isinstance(result.structured, Mapping) else None
        if result.status == "ok" and isinstance(rows, list) and rows and isinstance(rows[0], list):
            return [c for c in rows[0] if isinstance(c, str) and c.strip()][:3]
    return []


def _filter_columns(frame: dict[str, Any] | None) -> list[str]:
    """The columns ("table.column") a stored frame filtered on."""
    out: list[str] = []
    for item in (frame or {}).get("filters") or []:
        column = item.get("column") if isinstance(item, dict) else None
        if isinstance(column, dict) and column.get("table") and column.get("column"):
            out.append(f"{column['table']}.{column['column']}")
    return out
