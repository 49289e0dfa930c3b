"""``toolmesh check mcp|a2a``: run the conformance kit against any MCP server or A2A agent.

Exit status: 0 when the verdict is PASS (no MUST violated), 1 when it is FAIL, 2 on a usage error.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console

from toolmesh.protocols.conformance.a2a_checks import A2aOptions, check_a2a
from toolmesh.protocols.conformance.manifest import REQUIREMENTS
from toolmesh.protocols.conformance.mcp_checks import McpOptions, McpTarget, check_mcp
from toolmesh.protocols.conformance.mcp_wire import EraPreference
from toolmesh.protocols.conformance.report import Report

__all__ = ["check_app"]

check_app = typer.Typer(
    help="Check an MCP server or an A2A agent against the MCP and A2A specifications.",
    no_args_is_help=True,
)

JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")]
JunitOpt = Annotated[
    Path | None, typer.Option("--junit", help="Also write the report as JUnit XML to this file.")
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", help="Run only this requirement id (repeatable), e.g. MCP-PAGINATION."),
]
HeaderOpt = Annotated[
    list[str] | None, typer.Option("--header", "-H", help="Extra HTTP header 'Name: value' (repeatable).")
]
FormatOpt = Annotated[str, typer.Option("--format", help="What to print: table or json.")]


def _headers(values: list[str] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values or []:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected 'Name: value', got {value!r}", param_hint="--header")
        headers[name.strip()] = rest.strip()
    return headers


def _env(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    env: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--env")
        env[name] = rest
    return env


def _only(values: list[str] | None, prefix: str) -> frozenset[str] | None:
    if not values:
        return None
    known = {req.id for req in REQUIREMENTS if req.id.startswith(prefix)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise typer.BadParameter(f"unknown requirement id(s): {', '.join(unknown)}", param_hint="--only")
    return frozenset(values)


def _emit(report: Report, fmt: str, json_path: Path | None, junit_path: Path | None) -> None:
    if json_path is not None:
        json_path.write_text(report.to_json() + "\n", encoding="utf-8")
    if junit_path is not None:
        junit_path.write_text(report.to_junit() + "\n", encoding="utf-8")
    if fmt == "json":
        typer.echo(report.to_json())
    else:
        console = Console() if sys.stdout.isatty() else Console(width=160)
        report.print_table(console)
    raise typer.Exit(0 if report.passed else 1)


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    return fmt


@check_app.command("mcp")
def mcp_command(
    url: Annotated[
        str | None, typer.Option("--url", help="Streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp")
    ] = None,
    stdio: Annotated[
        str | None, typer.Option("--stdio", help="Command that starts the server on stdio (quoted).")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="KEY=VALUE for the --stdio server's environment (repeatable)."),
    ] = None,
    cwd: Annotated[
        Path | None, typer.Option("--cwd", help="Working directory of the --stdio server.")
    ] = None,
    era: Annotated[str, typer.Option(help="auto, 2026-07-28 or 2025-11-25.")] = "auto",
    allow_calls: Annotated[
        bool,
        typer.Option(
            "--allow-calls", help="Also call tools not annotated read-only (they may change things)."
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each response.")] = 15.0,
    header: HeaderOpt = None,
    only: OnlyOpt = None,
    fmt: FormatOpt = "table",
    json_path: JsonOpt = None,
    junit_path: JunitOpt = None,
) -> None:
    """Check an MCP server over Streamable HTTP (--url) or stdio (--stdio "CMD")."""
    if (url is None) == (stdio is None):
        raise typer.BadParameter("give exactly one of --url and --stdio")
    if era not in ("auto", "2026-07-28", "2025-11-25"):
        raise typer.BadParameter("use auto, 2026-07-28 or 2025-11-25", param_hint="--era")
    era_pref: EraPreference = (
        "auto" if era == "auto" else ("2026-07-28" if era == "2026-07-28" else "2025-11-25")
    )
    target = McpTarget(
        url=url,
        stdio=shlex.split(stdio) if stdio else None,
        env=_env(env),
        cwd=str(cwd) if cwd is not None else None,
        headers=_headers(header),
    )
    options = McpOptions(era=era_pref, allow_calls=allow_calls, timeout=timeout, only=_only(only, "MCP-"))
    report = anyio.run(check_mcp, target, options)
    _emit(report, _check_format(fmt), json_path, junit_path)


@check_app.command("a2a")
def a2a_command(
    url: Annotated[str, typer.Argument(help="The agent's base URL, or its agent-card URL.")],
    message: Annotated[str | None, typer.Option(help="Text of the test message.")] = None,
    slow_message: Annotated[
        str | None, typer.Option(help="A message that keeps the agent busy long enough to cancel.")
    ] = None,
    input_message: Annotated[
        str | None, typer.Option(help="A message that makes the agent ask for input (input-required).")
    ] = None,
    input_reply: Annotated[str, typer.Option(help="The answer sent to an input-required task.")] = "yes",
    push_url: Annotated[
        str | None, typer.Option(help="Webhook URL for the push-config checks (one the agent accepts).")
    ] = None,
    binding: Annotated[
        list[str] | None,
        typer.Option("--binding", help="Only this protocolBinding (JSONRPC, HTTP+JSON, GRPC)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each response.")] = 30.0,
    header: HeaderOpt = None,
    only: OnlyOpt = None,
    fmt: FormatOpt = "table",
    json_path: JsonOpt = None,
    junit_path: JunitOpt = None,
) -> None:
    """Check an A2A 1.0 agent: its card, then every operation on each advertised binding."""
    defaults = A2aOptions()
    options = A2aOptions(
        message=message or defaults.message,
        slow_message=slow_message,
        input_message=input_message,
        input_reply=input_reply,
        push_url=push_url or defaults.push_url,
        timeout=timeout,
        bindings=frozenset(binding) if binding else None,
        headers=_headers(header),
        only=_only(only, "A2A-"),
    )
    report = anyio.run(check_a2a, url, options)
    _emit(report, _check_format(fmt), json_path, junit_path)
