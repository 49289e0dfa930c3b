"""The A2A checks: an independent a2a-sdk sample agent passes on all three bindings (gRPC too), each
injected fault fails its requirement, and capabilities the agent lacks are checked as refusals or
skipped with a reason."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from toolmesh.protocols.conformance.a2a_checks import A2aOptions, card_url, check_a2a
from toolmesh.protocols.conformance.report import Outcome, Report

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from a2a_agents import BrokenAgent, serve_sample  # noqa: E402

FULL = A2aOptions(slow_message="please wait", input_message="confirm the plan", timeout=10)


def not_passing(report: Report) -> list[str]:
    return [
        f"{r.requirement_id}[{r.variant}] {r.outcome.value}: {r.observed}"
        for r in report.results
        if r.outcome != Outcome.PASS
    ]


@pytest.mark.asyncio
async def test_sample_agent_passes_every_check_on_every_binding() -> None:
    with anyio.fail_after(60):
        async with serve_sample() as base:
            report = await check_a2a(base, FULL)
    assert report.passed, not_passing(report)
    assert not_passing(report) == []
    assert report.details["bindings"] == "GRPC, HTTP+JSON, JSONRPC"
    variants = {(r.requirement_id, r.variant) for r in report.results}
    for binding in ("HTTP+JSON", "JSONRPC", "GRPC"):
        assert ("A2A-CANCEL-TASK", binding) in variants and ("A2A-ERROR-CODES", binding) in variants
    reachable = next(r for r in report.results if r.requirement_id == "A2A-INTERFACES-REACHABLE")
    assert "GRPC 127.0.0.1:" in reachable.observed and "answers" in reachable.observed
    cancel = [r for r in report.results if r.requirement_id == "A2A-CANCEL-TASK"]
    assert all("running task: canceled" in r.observed for r in cancel)
    subscribe = [r for r in report.results if r.requirement_id == "A2A-SUBSCRIBE"]
    assert all("first event is its Task snapshot" in r.observed for r in subscribe), subscribe


@pytest.mark.asyncio
async def test_the_kit_catches_what_a2a_sdk_leaves_open() -> None:
    """a2a-sdk's handler as it ships: outside suites passed it; the kit names each gap."""
    with anyio.fail_after(60):
        async with serve_sample(plain_sdk=True) as base:
            report = await check_a2a(base, FULL)
    outcomes = {(r.requirement_id, r.variant): r for r in report.results}
    for binding in ("JSONRPC", "HTTP+JSON", "GRPC"):
        for rid in ("A2A-CONTENT-TYPE", "A2A-FOLLOW-UP-TASK-ID", "A2A-STREAM-FOLLOW-UP"):
            assert outcomes[(rid, binding)].outcome == Outcome.FAIL, outcomes[(rid, binding)]
    # a2a-sdk's gRPC handler ignores the a2a-version metadata (its HTTP routes check the header)
    assert outcomes[("A2A-VERSION", "GRPC")].outcome == Outcome.FAIL
    assert outcomes[("A2A-VERSION", "JSONRPC")].outcome == Outcome.PASS
    assert outcomes[("A2A-CARD-CACHING", "card")].outcome == Outcome.WARN
    assert not report.passed


@pytest.mark.asyncio
async def test_an_agent_whose_tasks_all_fail_is_warned_about() -> None:
    with anyio.fail_after(60):
        async with serve_sample() as base:
            report = await check_a2a(base, A2aOptions(message="fail please", timeout=10))
    by_id = {r.requirement_id: r for r in report.results if r.requirement_id == "A2A-TASKS-SUCCEED"}
    assert by_id["A2A-TASKS-SUCCEED"].outcome == Outcome.WARN, by_id


@pytest.mark.asyncio
async def test_missing_behaviours_skip_with_a_reason_and_absent_capabilities_are_refusals() -> None:
    with anyio.fail_after(60):
        async with serve_sample(streaming=False, push=False, rest=False) as base:
            report = await check_a2a(base + "/.well-known/agent-card.json", A2aOptions(timeout=10))
    assert report.passed, not_passing(report)
    by_id = {r.requirement_id: r for r in report.results}
    assert by_id["A2A-INPUT-REQUIRED"].outcome == Outcome.SKIP
    assert "--input-message" in by_id["A2A-INPUT-REQUIRED"].observed
    assert by_id["A2A-STREAMING"].outcome == Outcome.PASS
    assert "refused" in by_id["A2A-STREAMING"].observed
    assert by_id["A2A-PUSH-CONFIG"].outcome == Outcome.PASS
    assert "PUSH_NOTIFICATION_NOT_SUPPORTED" in by_id["A2A-PUSH-CONFIG"].observed
    assert report.details["bindings"] == "GRPC, JSONRPC"
    streaming = {r.variant: r for r in report.results if r.requirement_id == "A2A-STREAMING"}
    assert "refused" in streaming["GRPC"].observed


@pytest.mark.asyncio
async def test_an_unreachable_agent_fails_cleanly() -> None:
    with anyio.fail_after(30):
        report = await check_a2a("http://127.0.0.1:9", A2aOptions(timeout=3))
    assert not report.passed
    assert {r.outcome for r in report.results} == {Outcome.FAIL, Outcome.SKIP}


def test_card_url_accepts_base_or_card() -> None:
    assert card_url("http://h:1") == "http://h:1/.well-known/agent-card.json"
    assert card_url("http://h:1/agent/") == "http://h:1/agent/.well-known/agent-card.json"
    assert card_url("http://h:1/x/card.json") == "http://h:1/x/card.json"


FAULTS: list[tuple[str, str, str]] = [
    # fault, requirement, variant (binding) where it shows
    ("card-missing", "A2A-CARD-WELL-KNOWN", "card"),
    ("card-no-version", "A2A-CARD-FIELDS", "card"),
    ("card-no-skills", "A2A-CARD-SKILLS", "card"),
    ("dead-interface", "A2A-INTERFACES-REACHABLE", "card"),
    ("send-bad-state", "A2A-SEND-MESSAGE", "JSONRPC"),
    ("stream-garbage", "A2A-STREAMING", "JSONRPC"),
    ("get-task-wrong-id", "A2A-GET-TASK", "JSONRPC"),
    ("list-ignores-context", "A2A-LIST-TASKS", "JSONRPC"),
    ("cancel-terminal-ok", "A2A-CANCEL-TASK", "JSONRPC"),
    ("subscribe-terminal-ok", "A2A-SUBSCRIBE", "JSONRPC"),
    ("push-broken", "A2A-PUSH-CONFIG", "JSONRPC"),
    ("reopen-terminal", "A2A-TERMINAL-STATE", "JSONRPC"),
    ("wrong-error-codes", "A2A-ERROR-CODES", "JSONRPC"),
    ("ignore-version", "A2A-VERSION", "HTTP+JSON"),
    ("new-context", "A2A-CONTEXT", "JSONRPC"),
    ("artifact-no-parts", "A2A-ARTIFACTS", "JSONRPC"),
    ("input-required-stuck", "A2A-INPUT-REQUIRED", "JSONRPC"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "rid", "variant"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_each_fault_fails_its_check(fault: str, rid: str, variant: str) -> None:
    options = A2aOptions(
        slow_message="please wait", input_message="confirm the plan", timeout=10, only=frozenset({rid})
    )
    with anyio.fail_after(60):
        async with serve_sample(faults=[fault]) as base:
            report = await check_a2a(base, options)
    results = {r.variant: r for r in report.results if r.requirement_id == rid}
    assert variant in results, report.results
    assert results[variant].outcome == Outcome.FAIL, f"{fault}: {results[variant].observed}"
    assert not report.passed


def test_every_fault_of_the_broken_agent_is_exercised() -> None:
    assert {f[0] for f in FAULTS} == BrokenAgent.FAULTS


@pytest.mark.asyncio
async def test_the_kit_speaks_grpc_to_an_agent_with_auth_on() -> None:
    """--header Authorization reaches the gRPC interface as metadata (the kit's calls and a2a-sdk's)."""
    from tests.agents.grpc_agent import TOKEN, grpc_agent

    only = frozenset({"A2A-INTERFACES-REACHABLE", "A2A-SEND-MESSAGE", "A2A-GET-TASK", "A2A-VERSION"})
    with anyio.fail_after(60):
        async with grpc_agent(auth=True) as served:
            good = A2aOptions(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}, only=only)
            report = await check_a2a(served.base, good)
            bad = A2aOptions(
                timeout=10, headers={"Authorization": "Bearer wrong"}, only=only, bindings=frozenset({"GRPC"})
            )
            refused = await check_a2a(served.base, bad)
    assert report.passed, not_passing(report)
    assert {r.variant for r in report.results} >= {"GRPC", "JSONRPC", "HTTP+JSON"}
    sent = {r.variant: r for r in refused.results if r.requirement_id == "A2A-SEND-MESSAGE"}
    assert sent["GRPC"].outcome == Outcome.FAIL and "UNAUTHENTICATED" in sent["GRPC"].observed


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("binding", "url", "ok"),
    [
        ("GRPC", "agents.example.com:50051", True),
        ("GRPC", "grpcs://agents.example.com", True),
        ("GRPC", "agents.example.com", False),  # no port
        ("GRPC", "agents.example.com:50051/a2a", False),
        ("JSONRPC", "agents.example.com:50051", False),  # host:port is for gRPC only
    ],
)
async def test_card_fields_take_host_port_for_grpc_only(binding: str, url: str, ok: bool) -> None:
    import httpx

    from toolmesh.protocols.conformance.a2a_checks import CardContext, check_card_fields

    card = {
        "name": "a",
        "description": "d",
        "version": "1",
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "capabilities": {},
        "skills": [{"id": "s", "name": "s", "description": "s", "tags": ["t"]}],
        "supportedInterfaces": [{"url": url, "protocolBinding": binding, "protocolVersion": "1.0"}],
    }
    async with httpx.AsyncClient() as client:
        finding = await check_card_fields(CardContext("u", client, A2aOptions(), card=card))
    assert (finding.outcome == Outcome.PASS) == ok, finding.observed
