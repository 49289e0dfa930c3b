"""Approvals for writes: a tool that is not read-only runs only when the caller (or the policy) allows it.

What asks: a tool step whose tool is not annotated ``readOnlyHint: true`` on every server offering it.
Read-only tools always run. For the others the policy decides, per ``"server.tool"``, ``"server.*"`` or
``"*"`` (the most specific rule wins; no rule means ``ask``):

- ``allow`` — runs without asking;
- ``deny`` — never runs, never asks: the step is skipped with the reason;
- ``ask`` — the executor's task goes ``input-required`` with the exact calls (:class:`ApprovalRequest`:
  step id, server, tool, the resolved arguments) and runs exactly those arguments once approved.

The answer (:func:`read_answer`): a JSON part ``{"approve": true|false}`` or ``{"approve": ["step-id", ...]}``
(approve a subset, deny the rest), or — where text is accepted (the planner) — "yes"/"no"/"approve"/"deny".
A step that was not approved is skipped with ``not approved: ...``; its dependents are skipped with the
same prefix, and the reviewer never approves an answer that stands on one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from a2a.types import Part
from pydantic import BaseModel, Field, ValidationError

from toolmesh.agents.errors import AgentError
from toolmesh.agents.plan import Step, ToolCall
from toolmesh.agents.wire import json_part, json_parts, text_of

if TYPE_CHECKING:
    from toolmesh.agents.catalog import ToolInfo  # the MCP client: the settings import this module

__all__ = [
    "ANSWER_HINT",
    "NOT_APPROVED",
    "ApprovalPolicy",
    "ApprovalRequest",
    "Approvals",
    "Clearance",
    "Decision",
    "PendingCall",
    "approval_parts",
    "check_rules",
    "is_unapproved",
    "read_answer",
    "request_of",
]

Decision = Literal["ask", "allow", "deny"]
NOT_APPROVED = "not approved"
ANSWER_HINT = (
    'Answer with a JSON part {"approve": true} (run them all), {"approve": false} (run none) or '
    '{"approve": ["step-id", ...]} (run those only); the planner also takes "yes" or "no".'
)
_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")
_YES = {"yes", "y", "approve", "approved", "allow", "ok"}
_NO = {"no", "n", "deny", "denied", "reject"}


def check_rules(rules: Mapping[str, str]) -> dict[str, Decision]:
    """``rules`` validated: keys ``*``, ``server.*`` or ``server.tool``; values ask, allow or deny."""
    checked: dict[str, Decision] = {}
    for key, value in rules.items():
        if value not in ("ask", "allow", "deny"):
            raise ValueError(f"approvals[{key!r}] is {value!r}: use 'ask', 'allow' or 'deny'")
        server, dot, tool = key.partition(".")
        ok = key == "*" or (
            bool(dot) and bool(_NAME.match(server)) and (tool == "*" or bool(_NAME.match(tool)))
        )
        if not ok or (key != "*" and "*" in key[:-1]):
            raise ValueError(
                f"approvals key {key!r} is not a pattern: use 'server.tool' (e.g. 'code.reindex'), "
                "'server.*' (every tool of a server) or '*' (every tool); '*' stands only for a whole "
                "tool name or the whole key"
            )
        checked[key] = value  # type: ignore[assignment]  # checked just above
    return checked


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """What to do with a write: the most specific of ``server.tool``, ``server.*``, ``*``; else ask."""

    rules: Mapping[str, Decision] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_rules(self.rules)

    def decide(self, server: str, tool: str) -> tuple[Decision, str]:
        """The decision for a write of ``tool`` on ``server``, and the rule that made it."""
        for key in (f"{server}.{tool}", f"{server}.*", "*"):
            if key in self.rules:
                return self.rules[key], key
        return "ask", ""


class PendingCall(BaseModel):
    """One call waiting for approval: exactly what will run."""

    step_id: str
    server: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    purpose: str = ""
    destructive: bool = True
    idempotent: bool = False


class ApprovalRequest(BaseModel):
    """What an ``input-required`` for approval carries (as the JSON part of its status message)."""

    kind: Literal["approval"] = "approval"
    calls: list[PendingCall]
    how: str = ANSWER_HINT

    def summary(self) -> str:
        """A short text for humans: one line per call."""
        lines = [f"approval needed: {len(self.calls)} call(s) that are not read-only"]
        for call in self.calls:
            args = json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)
            mark = " (destructive)" if call.destructive else ""
            lines.append(f"- {call.step_id}: {call.server}.{call.tool} {args[:300]}{mark}")
        return "\n".join(lines)


def approval_parts(request: ApprovalRequest, note: str = "") -> list[Part]:
    """The status message parts: the text summary (after ``note``) and the request as JSON."""
    text = f"{note}\n{request.summary()}" if note else request.summary()
    return [Part(text=text), json_part({"approval": request.model_dump(mode="json")})]


def request_of(parts: Iterable[Part]) -> ApprovalRequest | None:
    """The approval request in a status message's parts, or None when it asks something else (or a
    malformed request: a peer's garbage is not a question to put to the caller)."""
    try:
        for payload in json_parts(parts):
            if isinstance(payload, dict) and isinstance(payload.get("approval"), dict):
                return ApprovalRequest.model_validate(payload["approval"])
    except (AgentError, ValidationError):
        return None
    return None


def read_answer(parts: Sequence[Part], pending: Sequence[PendingCall], *, text: bool) -> set[str]:
    """The step ids the caller approves out of ``pending``; raises :class:`AgentError` saying what to send."""
    ids = [call.step_id for call in pending]
    body: Any = None
    for payload in json_parts(parts):
        if isinstance(payload, dict) and "approve" in payload:
            body = payload["approve"]
            break
    if body is None and text:
        said = text_of(parts).strip().lower().rstrip(".!")
        if said in _YES:
            body = True
        elif said in _NO:
            body = False
    if isinstance(body, bool):
        return set(ids) if body else set()
    if isinstance(body, list) and all(isinstance(item, str) for item in body):
        unknown = sorted(set(body) - set(ids))
        if unknown:
            raise AgentError(
                f"the answer approves step(s) {', '.join(unknown)}, which are not waiting for approval",
                hint=f"Waiting: {', '.join(ids)}. {ANSWER_HINT}",
            )
        return set(body)
    raise AgentError("the answer does not say whether to run the calls", hint=ANSWER_HINT)


def is_unapproved(status: str, error: str | None) -> bool:
    """Whether a step result was skipped because it (or a step it depends on) was not approved."""
    return status == "skipped" and (error or "").startswith(NOT_APPROVED)


@dataclass(frozen=True, slots=True)
class Clearance:
    """What the engine does with a step: run it (with these arguments), skip it, or wait for approval."""

    action: Literal["run", "skip", "wait"]
    arguments: dict[str, Any] = field(default_factory=dict)
    approval: Literal["approved", "denied"] | None = None
    by: Literal["caller", "policy"] | None = None
    reason: str = ""


@dataclass(slots=True)
class Approvals:
    """One run's approvals: the policy, the caller's answers so far (``approved``: step id -> the exact
    arguments approved; ``denied``), and the calls found waiting (filled by the engine)."""

    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    approved: dict[str, dict[str, Any]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    pending: list[PendingCall] = field(default_factory=list)

    def answered(self, pending: Sequence[PendingCall], yes: set[str]) -> None:
        """Record the caller's answer to ``pending``: the ids in ``yes`` approved, the rest denied."""
        for call in pending:
            if call.step_id in yes:
                self.approved[call.step_id] = call.arguments
            else:
                self.denied.add(call.step_id)

    def clear(
        self, step: Step, action: ToolCall, tools: Sequence[ToolInfo], arguments: dict[str, Any]
    ) -> Clearance:
        """Whether ``step`` (calling ``action`` with the resolved ``arguments``) may run now."""
        if not tools or all(info.read_only for info in tools):
            return Clearance("run", arguments)  # read-only (or unknown: the engine reports that)
        where = f"{action.server}.{action.tool}"
        if step.id in self.approved:
            return Clearance("run", self.approved[step.id], "approved", "caller")
        if step.id in self.denied:
            return Clearance(
                "skip", approval="denied", by="caller", reason=f"{NOT_APPROVED}: the caller denied {where}"
            )
        decision, rule = self.policy.decide(tools[0].server.name, action.tool)
        if decision == "allow":
            return Clearance("run", arguments, "approved", "policy")
        if decision == "deny":
            reason = f"{NOT_APPROVED}: the approvals policy denies {where} (rule {rule!r})"
            return Clearance("skip", approval="denied", by="policy", reason=reason)
        self.pending.append(
            PendingCall(
                step_id=step.id,
                server=action.server,
                tool=action.tool,
                arguments=arguments,
                purpose=step.purpose,
                destructive=any(info.destructive for info in tools),
                idempotent=all(info.idempotent for info in tools),
            )
        )
        return Clearance("wait")
