"""The kit against every toolmesh MCP server (stdio and Streamable HTTP) and every agent of the mesh.

Slow (each server is spawned or built for real): CI runs them with ``make test-slow``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from toolmesh.protocols.conformance.a2a_checks import A2aOptions, check_a2a
from toolmesh.protocols.conformance.mcp_checks import McpOptions, McpTarget, check_mcp
from toolmesh.protocols.conformance.report import Outcome, Report
from toolmesh.protocols.plugins import discover_servers
from toolmesh.protocols.serving import bind_socket, mcp_http_app, running

SERVERS = sorted(name for name in discover_servers() if name != "fixture")  # the fixture has its own tests


def problems(report: Report) -> list[str]:
    return [
        f"{r.requirement_id} {r.outcome.value}: {r.observed}"
        for r in report.results
        if r.outcome in (Outcome.FAIL, Outcome.ERROR)
    ]


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("name", SERVERS)
async def test_our_server_over_stdio(name: str) -> None:
    target = McpTarget(stdio=[sys.executable, "-m", f"toolmesh.servers.{name}", "--transport", "stdio"])
    with anyio.fail_after(300):
        report = await check_mcp(target, McpOptions(timeout=30, startup_timeout=120))
    assert report.passed, problems(report)
    outcomes = {r.requirement_id: r.outcome for r in report.results}
    assert outcomes["MCP-STDIO-LOGGING"] == Outcome.PASS
    assert outcomes["MCP-UNKNOWN-TOOL"] == Outcome.PASS  # the serving core answers -32602
    assert outcomes["MCP-TOOL-ANNOTATIONS"] == Outcome.PASS


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("era", ["auto", "2025-11-25"])
@pytest.mark.parametrize("name", SERVERS)
async def test_our_server_over_http(name: str, era: str) -> None:
    spec = discover_servers()[name]
    settings = spec.load_settings(transport="http", port=0, graceful_timeout=1)
    app = mcp_http_app(spec.build_server(settings), settings)
    options = McpOptions(timeout=30, era=era)  # type: ignore[arg-type]
    with anyio.fail_after(300):
        async with running(app, settings, sock=bind_socket()) as base:
            report = await check_mcp(McpTarget(url=f"{base}{settings.path}"), options)
    assert report.passed, problems(report)
    assert {r.requirement_id: r.outcome for r in report.results}["MCP-HTTP-ORIGIN"] == Outcome.PASS


@pytest.mark.slow
@pytest.mark.asyncio
async def test_our_agents(tmp_path: Path) -> None:
    mesh_module = pytest.importorskip("toolmesh.agents.mesh", reason="the agents slice is not installed")
    with anyio.fail_after(600):
        async with mesh_module.launch_mesh(tmp_path) as mesh:
            reports = {
                role: await check_a2a(agent.url, A2aOptions(timeout=60))
                for role, agent in mesh.agents.items()
            }
    assert set(reports) == {"planner", "executor", "reviewer"}
    for role, report in reports.items():
        assert report.passed, (role, problems(report))
        assert report.details["bindings"] == "GRPC, HTTP+JSON, JSONRPC"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_gateway_over_http() -> None:
    from toolmesh.protocols.gateway import build_gateway
    from toolmesh.protocols.settings import ServingSettings

    settings = ServingSettings(transport="http", port=0, graceful_timeout=1)
    specs = {name: spec for name, spec in discover_servers().items() if spec.in_gateway}
    app = mcp_http_app(build_gateway(specs), settings)
    with anyio.fail_after(300):
        async with running(app, settings, sock=bind_socket()) as base:
            report = await check_mcp(McpTarget(url=f"{base}/mcp"), McpOptions(timeout=30))
    assert report.passed, problems(report)
    assert int(report.details["tools"]) > len(specs)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_registry_mcp_face(tmp_path: Path) -> None:
    registry_app = pytest.importorskip("toolmesh.registry.app", reason="the registry slice is not installed")
    registry_settings = pytest.importorskip("toolmesh.registry.settings")
    settings = registry_settings.RegistrySettings(
        port=0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}",
        probe_interval=0,
        graceful_timeout=1,
    )
    with anyio.fail_after(300):
        async with running(registry_app.build_app(settings), settings, sock=bind_socket()) as base:
            report = await check_mcp(McpTarget(url=f"{base}{settings.path}"), McpOptions(timeout=30))
    assert report.passed, problems(report)
