"""The plan: a DAG of steps (MCP tool calls or A2A handoffs), its JSON Schema, references and validation.

A step's arguments may refer to earlier steps' outputs with ``${STEP}`` or ``${STEP.path.to.value}``:

- a string that is exactly one reference is replaced by the referenced value (any JSON type);
- a reference inside a longer string is replaced by the value's text.

The path walks the step's structured output (``text`` names the step's readable rendering; list indexes
are numbers, e.g. ``${s1.hits.0.citation.path}``). A reference makes the step depend on the referenced
step even when ``depends_on`` does not list it. :func:`validate_plan` checks all of this (and the tool
names and argument schemas against a catalog) before anything runs.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolmesh.agents.errors import PlanError

__all__ = [
    "MAX_STEPS",
    "PLAN_SCHEMA",
    "Handoff",
    "Plan",
    "Step",
    "StepOutput",
    "ToolCall",
    "parse_plan",
    "references",
    "resolve_arguments",
    "topological_waves",
    "validate_plan",
]

MAX_STEPS = 64
# jsonschema ships no type stubs; reach it untyped rather than add a stubs dependency.
jsonschema: Any = importlib.import_module("jsonschema")

_ID = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
_REF = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_-]{0,63})((?:\.[A-Za-z0-9_-]+)*)\}")


class ToolCall(BaseModel):
    """Call ``tool`` on the MCP server ``server`` (a registered server name) with ``arguments``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tool"] = "tool"
    server: str = Field(min_length=1, max_length=128, description="Registered MCP server name, e.g. 'sql'.")
    tool: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-/]+$")
    arguments: dict[str, Any] = Field(default_factory=dict)


class Handoff(BaseModel):
    """Hand ``message`` to an agent found by ``skill``; its answer becomes this step's output."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["handoff"] = "handoff"
    skill: str = Field(min_length=1, max_length=128)
    message: str = Field(min_length=1, max_length=20_000)


class Step(BaseModel):
    """One node of the plan."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID)
    action: Annotated[ToolCall | Handoff, Field(discriminator="kind")]
    depends_on: list[str] = Field(default_factory=list, max_length=MAX_STEPS)
    purpose: str = Field(default="", max_length=2_000, description="Why this step is in the plan.")
    timeout: float | None = Field(default=None, gt=0, le=600, description="Per-call timeout in seconds.")

    def dependencies(self) -> set[str]:
        """Declared dependencies plus every step the arguments (or message) refer to."""
        return set(self.depends_on) | {ref for ref, _ in references(self._payload())}

    def _payload(self) -> Any:
        if isinstance(self.action, ToolCall):
            return self.action.arguments
        return self.action.message


class Plan(BaseModel):
    """A DAG of steps answering ``goal``."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=20_000)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    rationale: str = Field(default="", max_length=20_000)

    @model_validator(mode="after")
    def _shape(self) -> Plan:
        check_graph(self.steps)
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise PlanError(f"no step {step_id!r} in the plan")


PLAN_SCHEMA: dict[str, Any] = Plan.model_json_schema()


class StepOutput(BaseModel):
    """What a finished step left for later steps to refer to."""

    structured: Any = None
    text: str = ""


def references(value: Any) -> Iterator[tuple[str, str]]:
    """Every ``(step_id, path)`` referenced inside ``value`` (strings, lists and dicts, recursively)."""
    if isinstance(value, str):
        for match in _REF.finditer(value):
            yield match.group(1), match.group(2).lstrip(".")
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def check_graph(steps: list[Step]) -> None:
    """Unique ids, known dependencies, no cycles; raises :class:`PlanError` naming the problem."""
    ids = [step.id for step in steps]
    seen: set[str] = set()
    for step_id in ids:
        if step_id in seen:
            raise PlanError(f"step id {step_id!r} is used twice", hint="Give every step its own id.")
        seen.add(step_id)
    for step in steps:
        for dep in step.dependencies():
            if dep not in seen:
                raise PlanError(
                    f"step {step.id!r} depends on (or refers to) unknown step {dep!r}",
                    hint=f"Known steps: {', '.join(ids)}.",
                )
            if dep == step.id:
                raise PlanError(f"step {step.id!r} depends on itself")
    topological_waves(steps)


def topological_waves(steps: Iterable[Step]) -> list[list[str]]:
    """Step ids in waves: every step's dependencies are in earlier waves. Raises on a cycle."""
    pending = {step.id: step.dependencies() for step in steps}
    done: set[str] = set()
    waves: list[list[str]] = []
    while pending:
        ready = sorted(step_id for step_id, deps in pending.items() if deps <= done)
        if not ready:
            cycle = ", ".join(sorted(pending))
            raise PlanError(f"the plan has a dependency cycle among steps {cycle}", hint="Remove one edge.")
        waves.append(ready)
        done.update(ready)
        for step_id in ready:
            del pending[step_id]
    return waves


def _walk(value: Any, path: str, step_id: str) -> Any:
    current = value
    for part in [p for p in path.split(".") if p]:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise PlanError(
                f"reference ${{{step_id}.{path}}} does not resolve: no {part!r} in the output of {step_id!r}",
                hint="Refer to a field the step's output schema has.",
            )
    return current


def _lookup(outputs: Mapping[str, StepOutput], step_id: str, path: str) -> Any:
    if step_id not in outputs:
        raise PlanError(f"step {step_id!r} has no output (it did not run or failed)")
    output = outputs[step_id]
    if not path:
        return output.structured if output.structured is not None else output.text
    if path == "text" and not (isinstance(output.structured, Mapping) and "text" in output.structured):
        return output.text
    return _walk(output.structured, path, step_id)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def resolve_arguments(value: Any, outputs: Mapping[str, StepOutput]) -> Any:
    """``value`` with every reference replaced from ``outputs``."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(outputs, whole.group(1), whole.group(2).lstrip("."))
        return _REF.sub(lambda m: _as_text(_lookup(outputs, m.group(1), m.group(2).lstrip("."))), value)
    if isinstance(value, Mapping):
        return {key: resolve_arguments(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_arguments(item, outputs) for item in value]
    return value


def _has_refs(value: Any) -> bool:
    return next(references(value), None) is not None


def validate_plan(
    plan: Plan,
    tools: Mapping[str, Mapping[str, Mapping[str, Any] | None]] | None = None,
    *,
    skills: Iterable[str] | None = None,
) -> None:
    """Check ``plan`` against a catalog before it runs; raises :class:`PlanError` on the first problem.

    ``tools`` maps server name -> tool name -> input JSON Schema (None: unknown schema). Arguments without
    references are validated against the schema; with references, only the literal keys are checked.
    ``skills``, when given, are the handoff skills some agent offers.
    """
    check_graph(plan.steps)
    known_skills = set(skills) if skills is not None else None
    for step in plan.steps:
        action = step.action
        if isinstance(action, Handoff):
            if known_skills is not None and action.skill not in known_skills:
                raise PlanError(
                    f"step {step.id!r} hands off to skill {action.skill!r}, which no agent offers",
                    hint=f"Known skills: {', '.join(sorted(known_skills)) or 'none'}.",
                )
            continue
        if tools is None:
            continue
        if action.server not in tools:
            raise PlanError(
                f"step {step.id!r} calls server {action.server!r}, which is not in the catalog",
                hint=f"Known servers: {', '.join(sorted(tools)) or 'none'}.",
            )
        server_tools = tools[action.server]
        if action.tool not in server_tools:
            raise PlanError(
                f"step {step.id!r} calls unknown tool {action.tool!r} on {action.server!r}",
                hint=f"Its tools: {', '.join(sorted(server_tools))}.",
            )
        schema = server_tools[action.tool]
        if schema is None:
            continue
        _check_arguments(step.id, action, schema)


def _check_arguments(step_id: str, action: ToolCall, schema: Mapping[str, Any]) -> None:
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and schema.get("additionalProperties") is False:
        unknown = sorted(set(action.arguments) - set(properties))
        if unknown:
            raise PlanError(
                f"step {step_id!r}: {action.tool} has no argument(s) {', '.join(unknown)}",
                hint=f"Its arguments: {', '.join(sorted(properties))}.",
            )
    if _has_refs(action.arguments):
        required = schema.get("required") or []
        missing = [name for name in required if name not in action.arguments]
        if missing:
            raise PlanError(f"step {step_id!r}: {action.tool} needs argument(s) {', '.join(missing)}")
        return
    try:
        jsonschema.validate(action.arguments, dict(schema))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(arguments)"
        raise PlanError(
            f"step {step_id!r}: arguments of {action.tool} do not match its schema at {where}: {exc.message}"
        ) from exc
    except jsonschema.SchemaError:
        return  # a server's broken schema is not the plan's fault


def parse_plan(data: Any) -> Plan:
    """A plan from JSON text or a decoded object, with a :class:`PlanError` that says what is wrong."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise PlanError(f"the plan is not valid JSON: {exc}") from exc
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(plan)"
        raise PlanError(
            f"the plan does not match its schema at {where}: {first['msg']}",
            hint=f"{exc.error_count()} problem(s) in total; see PLAN_SCHEMA.",
        ) from exc
