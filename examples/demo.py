"""`make demo`: toolmesh end to end on embedded defaults, with no services and no model.

1. The MCP gateway: runs `toolmesh serve all --transport http` as a child process (exactly what a user would
   run), waits for /healthz, lists the tools through fastmcp's Client, makes a few read-only calls, stops it.
2. The agent mesh: `toolmesh agents demo` starts the registry, the docs/sql/code servers and the planner,
   executor and reviewer agents, and answers one question that needs all three servers, with its evidence.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client
from rich.console import Console
from rich.table import Table

console = Console()

# Read-only calls that show each server doing real work, when that server is installed.
SAMPLE_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("sql_list_tables", {}),
    (
        "sql_run_query",
        {"sql": "SELECT first_name, last_name, country FROM customers ORDER BY last_name LIMIT 3"},
    ),
    # A mistake on purpose: errors are results a model can act on.
    ("sql_run_query", {"sql": "SELECT nmae FROM customers"}),
    ("sql_find_tables", {"question": "Which customers paid the most for their orders?"}),
    ("code_find_symbol", {"query": "build_gateway"}),
    ("docs_index_status", {}),
    ("memory_status", {}),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"the gateway exited during start-up (code {proc.returncode}); see the log above"
            )
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the gateway did not answer {base}/healthz within {timeout:.0f}s")


def show(value: Any, limit: int = 900) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + " …"


async def use(url: str) -> None:
    async with Client(url) as client:
        console.print(f"connected: MCP {client.protocol_version}")
        tools = await client.list_tools()
        table = Table(title=f"{len(tools)} tools at {url}", show_lines=False)
        table.add_column("tool", style="bold cyan")
        table.add_column("read-only")
        table.add_column("description")
        for tool in sorted(tools, key=lambda t: t.name):
            read_only = tool.annotations.read_only_hint if tool.annotations else None
            table.add_row(
                tool.name, "yes" if read_only else "no", (tool.description or "").split("\n")[0][:80]
            )
        console.print(table)
        names = {t.name for t in tools}
        for name, arguments in SAMPLE_CALLS:
            if name not in names:
                continue
            result = await client.call_tool(name, arguments, raise_on_error=False)
            status = "[red]error[/]" if result.is_error else "[green]ok[/]"
            console.rule(f"{name}({show(arguments, 200)}) → {status}")
            if result.is_error or result.structured_content is None:
                console.print(getattr(result.content[0], "text", result.content[0]))
            else:
                console.print(show(result.structured_content))


def main() -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "toolmesh.protocols.cli",
        "serve",
        "all",
        "--transport",
        "http",
        "--port",
        str(port),
    ]
    console.print(f"$ toolmesh serve all --transport http --port {port}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], env=env)
    try:
        wait_healthy(base, proc)
        asyncio.run(use(f"{base}/mcp"))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    console.print("[green]gateway stopped cleanly[/]\n")
    console.rule("[bold]the agent mesh: planner → executor → reviewer over A2A")
    console.print("$ toolmesh agents demo")
    mesh = subprocess.run(
        [sys.executable, "-m", "toolmesh.protocols.cli", "agents", "demo"], env=env, timeout=600, check=False
    )
    if mesh.returncode != 0:
        console.print(f"[red]the mesh demo failed (exit {mesh.returncode})[/]")
        return mesh.returncode
    console.print("[green]demo finished[/]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
