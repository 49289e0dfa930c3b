"""The manifest is fully covered (every requirement has a check, every check a requirement), and the three
report formats say the same thing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from toolmesh.protocols.conformance.a2a_checks import A2A_BINDING_CHECKS, A2A_CARD_CHECKS
from toolmesh.protocols.conformance.manifest import REQUIREMENTS, requirement, requirements_for
from toolmesh.protocols.conformance.mcp_checks import MCP_CHECKS
from toolmesh.protocols.conformance.report import CheckResult, Outcome, Report
from toolmesh.protocols.conformance.runner import CheckRegistry, failed, passed, run_checks
from toolmesh.protocols.conformance.schemas import (
    NoExample,
    example_for,
    schema_problem,
    wrong_type_arguments,
)

ALL_CHECKS = [*MCP_CHECKS.checks, *A2A_CARD_CHECKS.checks, *A2A_BINDING_CHECKS.checks]


def test_every_requirement_has_exactly_one_check_and_every_check_a_requirement() -> None:
    checked = Counter(check.requirement_id for check in ALL_CHECKS)
    assert set(checked) == {req.id for req in REQUIREMENTS}
    assert all(count == 1 for count in checked.values()), checked


def test_requirement_ids_are_unique_and_well_formed() -> None:
    ids = [req.id for req in REQUIREMENTS]
    assert len(ids) == len(set(ids))
    for req in REQUIREMENTS:
        assert req.id.startswith(("MCP-", "A2A-")) and req.id == req.id.upper()
        assert req.level in ("MUST", "SHOULD")
        assert req.title and req.refs and "|" not in req.title  # the docs render titles in a table
        assert all(ref.url.startswith("https://") for ref in req.refs)


def test_mcp_requirements_cite_both_revisions_and_a2a_cites_1_0() -> None:
    for req in requirements_for("mcp"):
        specs = {ref.spec for ref in req.refs}
        expected = {"MCP 2026-07-28"} if req.id == "MCP-CACHING" else {"MCP 2026-07-28", "MCP 2025-11-25"}
        assert specs == expected, req.id
    for req in requirements_for("a2a"):
        assert {ref.spec for ref in req.refs} == {"A2A 1.0"}


def test_the_docs_list_every_requirement() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "conformance.md").read_text(encoding="utf-8")
    missing = [req.id for req in REQUIREMENTS if f"| `{req.id}` | {req.level} |" not in docs]
    assert missing == []


def test_registries_refuse_unknown_duplicate_and_foreign_ids() -> None:
    registry: CheckRegistry[object] = CheckRegistry("mcp")
    with pytest.raises(KeyError):
        registry.check("MCP-NO-SUCH-THING")
    with pytest.raises(ValueError, match="a2a requirement"):
        registry.check("A2A-VERSION")

    async def noop(ctx: object) -> object:
        return passed("ok")

    registry.check("MCP-LIFECYCLE")(noop)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already has a check"):
        registry.check("MCP-LIFECYCLE")(noop)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_runner_bounds_time_contains_crashes_and_demotes_should_failures() -> None:
    registry: CheckRegistry[None] = CheckRegistry("mcp")

    @registry.check("MCP-LIFECYCLE", timeout=0.05)
    async def hangs(ctx: None) -> object:
        import anyio

        await anyio.sleep(10)
        return passed("never")

    @registry.check("MCP-JSONRPC")
    async def crashes(ctx: None) -> object:
        raise RuntimeError("boom")

    @registry.check("MCP-TOOL-ANNOTATIONS")  # a SHOULD
    async def should_fails(ctx: None) -> object:
        return failed("missing")

    @registry.check("MCP-UNKNOWN-METHOD")
    async def request_times_out(ctx: None) -> object:
        import anyio

        with anyio.fail_after(0.01):  # a request bounded by its own limit: the target's fault
            await anyio.sleep(10)
        return passed("never")

    results = await run_checks(registry.checks, None)  # type: ignore[arg-type]
    assert [r.outcome for r in results] == [Outcome.ERROR, Outcome.ERROR, Outcome.WARN, Outcome.FAIL]
    assert "within" in results[0].observed and "boom" in results[1].observed
    assert "did not answer" in results[3].observed


def sample_report() -> Report:
    report = Report("mcp", "python server.py", details={"transport": "stdio"})
    report.results = [
        CheckResult("MCP-LIFECYCLE", Outcome.PASS, "ok", variant="stdio", seconds=0.1),
        CheckResult("MCP-TOOLS-LIST", Outcome.FAIL, "duplicate <names> & more", variant="stdio"),
        CheckResult("MCP-TOOL-ANNOTATIONS", Outcome.WARN, "2 tools have none", variant="stdio"),
        CheckResult("MCP-HTTP-ORIGIN", Outcome.SKIP, "Streamable HTTP only", variant="stdio"),
        CheckResult("MCP-PROGRESS", Outcome.ERROR, "check did not finish", variant="stdio"),
    ]
    return report


def test_json_report() -> None:
    data = json.loads(sample_report().to_json())
    assert data["verdict"] == "FAIL"
    assert data["counts"] == {"pass": 1, "fail": 1, "warn": 1, "skip": 1, "error": 1}
    first = data["results"][1]
    assert first["id"] == "MCP-TOOLS-LIST" and first["level"] == "MUST"
    assert first["spec"][0]["url"] == requirement("MCP-TOOLS-LIST").link


def test_junit_report_is_valid_xml_with_failures_errors_and_skips() -> None:
    root = ET.fromstring(sample_report().to_junit().split("?>", 1)[1])  # noqa: S314 (our own output)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["MCP-TOOLS-LIST [stdio]"].find("failure")
    assert failure is not None and failure.get("message") == "duplicate <names> & more"
    assert cases["MCP-HTTP-ORIGIN [stdio]"].find("skipped") is not None
    assert cases["MCP-PROGRESS [stdio]"].find("error") is not None


def test_table_shows_every_result_with_its_spec_link() -> None:
    out = StringIO()
    sample_report().print_table(Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "duplicate <names> & more" in text  # markup in observations is shown, not interpreted
    assert requirement("MCP-LIFECYCLE").link in text
    assert "FAIL: mcp python server.py" in text


def test_passed_verdict_ignores_warnings_and_skips() -> None:
    report = Report(
        "mcp",
        "x",
        results=[
            CheckResult("MCP-LIFECYCLE", Outcome.PASS, "ok"),
            CheckResult("MCP-TOOL-ANNOTATIONS", Outcome.WARN, "w"),
        ],
    )
    assert report.passed and report.verdict == "PASS"


SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 3},
        "limit": {"type": "integer", "minimum": 5, "maximum": 9},
        "mode": {"enum": ["fast", "slow"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "where": {"$ref": "#/$defs/Where"},
        "optional": {"type": "boolean"},
    },
    "required": ["query", "limit", "mode", "tags", "where"],
    "$defs": {
        "Where": {
            "type": "object",
            "properties": {"col": {"type": "string", "format": "email"}},
            "required": ["col"],
        }
    },
}


def test_example_arguments_validate_and_use_only_required_properties() -> None:
    args = example_for(SCHEMA)
    assert args == {
        "query": "test",
        "limit": 5,
        "mode": "fast",
        "tags": ["test"],
        "where": {"col": "test@example.com"},
    }
    assert example_for(
        {"type": "object", "properties": {"s": {"type": "string", "minLength": 6}}, "required": ["s"]}
    ) == {"s": "testxx"}


def test_example_arguments_give_up_honestly() -> None:
    with pytest.raises(NoExample):
        example_for(
            {
                "type": "object",
                "properties": {"x": {"type": "string", "pattern": "^[0-9]+$"}},
                "required": ["x"],
            }
        )


def test_wrong_type_arguments_break_exactly_one_property() -> None:
    broken = wrong_type_arguments(SCHEMA)
    assert broken is not None
    args, label = broken
    assert args["query"] == 12345 and label.startswith("query")
    assert wrong_type_arguments({"type": "object", "properties": {}}) is None


def test_schema_problems() -> None:
    assert schema_problem({"type": "object"}) is None
    assert "must be 'object'" in str(schema_problem({"type": "array"}))
    assert "invalid JSON Schema" in str(schema_problem({"type": "object", "properties": {"a": {"type": 5}}}))
    assert "not an object" in str(schema_problem([1]))
