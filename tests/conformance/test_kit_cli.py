"""``toolmesh check mcp|a2a``: exit status, JSON and JUnit files, usage errors."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from toolmesh.protocols.cli import app

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from a2a_agents import serve_sample  # noqa: E402

runner = CliRunner()
BROKEN = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'broken_mcp.py'))}"


def test_check_mcp_stdio_passes_and_writes_json_and_junit(tmp_path: Path) -> None:
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    result = runner.invoke(
        app,
        [
            "check",
            "mcp",
            "--stdio",
            BROKEN,
            "--timeout",
            "5",
            "--json",
            str(out_json),
            "--junit",
            str(out_xml),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "PASS: mcp" in result.output
    data = json.loads(out_json.read_text())
    assert data["verdict"] == "PASS" and data["details"]["transport"] == "stdio"
    suite = ET.parse(out_xml).getroot().find("testsuite")  # noqa: S314 (our own output)
    assert suite is not None and suite.get("failures") == "0"


def test_check_mcp_exit_status_is_1_on_a_failing_server() -> None:
    result = runner.invoke(
        app,
        [
            "check",
            "mcp",
            "--stdio",
            f"{BROKEN} crash-on-malformed",
            "--only",
            "MCP-HOSTILE-MALFORMED",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["verdict"] == "FAIL"
    assert [r["outcome"] for r in data["results"] if r["id"] == "MCP-HOSTILE-MALFORMED"] == ["fail"]


def test_check_mcp_usage_errors() -> None:
    assert runner.invoke(app, ["check", "mcp"]).exit_code == 2
    assert runner.invoke(app, ["check", "mcp", "--url", "http://x/mcp", "--stdio", "y"]).exit_code == 2
    assert runner.invoke(app, ["check", "mcp", "--stdio", BROKEN, "--only", "MCP-NOPE"]).exit_code == 2
    assert runner.invoke(app, ["check", "mcp", "--stdio", BROKEN, "--era", "1999"]).exit_code == 2
    assert runner.invoke(app, ["check", "a2a", "http://x", "--header", "no-colon"]).exit_code == 2
    assert runner.invoke(app, ["check", "mcp", "--stdio", BROKEN, "--env", "NOEQUALS"]).exit_code == 2


def test_check_mcp_passes_env_and_cwd_to_the_stdio_server(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            "mcp",
            "--stdio",
            BROKEN,
            "--allow-calls",
            "--env",
            "BROKEN_MCP_DESTRUCTIVE_MARKER=marker",
            "--cwd",
            str(tmp_path),
            "--only",
            "MCP-TOOL-STRUCTURED",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "marker").read_text() == "called\n"  # relative to --cwd, via --env


@contextmanager
def agent_in_a_thread() -> Iterator[str]:
    """The sample agent on its own event loop (the CLI runs its own with anyio.run)."""
    ready = threading.Event()
    box: dict[str, object] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        box["stop"], box["loop"] = stop, asyncio.get_running_loop()
        async with serve_sample() as base:
            box["base"] = base
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the sample agent did not start"
    try:
        yield str(box["base"])
    finally:
        loop = box["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        stop = box["stop"]
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


def test_check_a2a_against_the_sample_agent(tmp_path: Path) -> None:
    out_xml = tmp_path / "a2a.xml"
    with agent_in_a_thread() as base:
        result = runner.invoke(
            app,
            [
                "check",
                "a2a",
                base,
                "--binding",
                "JSONRPC",
                "--input-message",
                "confirm it",
                "--slow-message",
                "please wait",
                "--timeout",
                "10",
                "--junit",
                str(out_xml),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "PASS: a2a" in result.output
    suite = ET.parse(out_xml).getroot().find("testsuite")  # noqa: S314 (our own output)
    assert suite is not None
    names = {case.get("name") for case in suite.iter("testcase")}
    assert "A2A-INPUT-REQUIRED [JSONRPC]" in names and "A2A-CARD-FIELDS [card]" in names
    assert not any("HTTP+JSON" in str(n) for n in names)  # --binding filtered the REST interface out
