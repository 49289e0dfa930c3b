"""The plan model: schema, graph checks, references, validation against a catalog."""

from __future__ import annotations

from typing import Any

import pytest

from toolmesh.agents.errors import PlanError
from toolmesh.agents.plan import (
    PLAN_SCHEMA,
    StepOutput,
    parse_plan,
    resolve_arguments,
    topological_waves,
    validate_plan,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "sql": {
        "run_query": {
            "type": "object",
            "properties": {"sql": {"type": "string"}, "max_rows": {"type": "integer", "minimum": 1}},
            "required": ["sql"],
            "additionalProperties": False,
        }
    },
    "docs": {
        "search_docs": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
    },
}


def _tool(step_id: str, server: str, tool: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "action": {"kind": "tool", "server": server, "tool": tool, "arguments": args},
        **extra,
    }


def test_schema_describes_both_step_kinds() -> None:
    action = PLAN_SCHEMA["$defs"]["Step"]["properties"]["action"]
    kinds = {ref["$ref"].rsplit("/", 1)[-1] for ref in action["oneOf"]}
    assert kinds == {"ToolCall", "Handoff"}
    assert set(PLAN_SCHEMA["required"]) == {"goal", "steps"}


def test_references_imply_dependencies_and_order_waves() -> None:
    plan = parse_plan(
        {
            "goal": "g",
            "steps": [
                _tool("rows", "sql", "run_query", {"sql": "select 1"}),
                _tool("docs", "docs", "search_docs", {"query": "${rows.rows.0.0} and ${other.text}"}),
                _tool("other", "docs", "search_docs", {"query": "x"}),
                {"id": "ask", "action": {"kind": "handoff", "skill": "review", "message": "see ${docs}"}},
            ],
        }
    )
    assert plan.step("docs").dependencies() == {"rows", "other"}
    assert topological_waves(plan.steps) == [["other", "rows"], ["docs"], ["ask"]]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [_tool("a", "sql", "run_query", {"sql": "x"}), _tool("a", "sql", "run_query", {"sql": "y"})],
            "used twice",
        ),
        ([_tool("a", "sql", "run_query", {"sql": "x"}, depends_on=["zz"])], "unknown step 'zz'"),
        ([_tool("a", "sql", "run_query", {"sql": "${a.rows}"})], "depends on itself"),
        (
            [
                _tool("a", "sql", "run_query", {"sql": "${b}"}),
                _tool("b", "sql", "run_query", {"sql": "${a}"}),
            ],
            "dependency cycle among steps a, b",
        ),
    ],
)
def test_bad_graphs_are_refused(steps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan({"goal": "g", "steps": steps})


def test_schema_errors_name_the_field() -> None:
    with pytest.raises(PlanError, match=r"steps\.0\.action"):
        parse_plan({"goal": "g", "steps": [{"id": "a", "action": {"kind": "teleport"}}]})
    with pytest.raises(PlanError, match="not valid JSON"):
        parse_plan("{nope")


def test_resolve_keeps_types_for_whole_references_and_formats_embedded_ones() -> None:
    outputs = {"a": StepOutput(structured={"rows": [[7, "x"]], "n": 2}, text="seven")}
    resolved = resolve_arguments({"k": "${a.rows.0.0}", "s": "n=${a.n}; t=${a.text}", "l": ["${a}"]}, outputs)
    assert resolved == {"k": 7, "s": "n=2; t=seven", "l": [{"rows": [[7, "x"]], "n": 2}]}
    with pytest.raises(PlanError, match="no 'missing'"):
        resolve_arguments("${a.missing}", outputs)


def test_validation_against_the_catalog() -> None:
    good = parse_plan(
        {"goal": "g", "steps": [_tool("a", "sql", "run_query", {"sql": "select 1", "max_rows": 5})]}
    )
    validate_plan(good, SCHEMAS)
    cases = [
        (_tool("a", "nosuch", "run_query", {"sql": "x"}), "server 'nosuch', which is not in the catalog"),
        (_tool("a", "sql", "drop_all", {}), "unknown tool 'drop_all'"),
        (_tool("a", "sql", "run_query", {"sql": "x", "rows": 1}), "no argument"),
        (_tool("a", "sql", "run_query", {"max_rows": 0, "sql": "x"}), "do not match its schema at max_rows"),
        (_tool("a", "sql", "run_query", {}), "'sql' is a required property"),
    ]
    for step, message in cases:
        with pytest.raises(PlanError, match=message):
            validate_plan(parse_plan({"goal": "g", "steps": [step]}), SCHEMAS)
    handoff = parse_plan(
        {"goal": "g", "steps": [{"id": "h", "action": {"kind": "handoff", "skill": "x", "message": "m"}}]}
    )
    with pytest.raises(PlanError, match="no agent offers"):
        validate_plan(handoff, SCHEMAS, skills=["review"])
