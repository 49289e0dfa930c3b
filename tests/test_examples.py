"""Every file in examples/ is exercised the way its user runs it.

Client configs are started as their client starts them: the entry's command, args and env over stdio, with
the client's own substitutions (VS Code and Cursor expand ``${workspaceFolder}``, VS Code asks for
``${input:...}``), the working directory the client gives (Claude Desktop: ``/``; the others: the project),
and the environment MCP clients pass (``mcp``'s default environment plus the entry's env). Paths a user must
edit (``/Users/me/...``, ``/absolute/path/...``) are replaced with folders made here; ``XDG_CACHE_HOME``
points into the test's folder so nothing is written to the real cache.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TOOLMESH = Path(sys.executable).parent / "toolmesh"  # the console script an installed toolmesh puts on PATH
INSPECTOR = ROOT / "tests" / "conformance" / "js" / "node_modules" / ".bin" / "mcp-inspector"

# The client that reads each config, by file name.
CLIENT_CONFIGS = {
    "sql/claude_desktop_config.json": "claude-desktop",
    "sql/claude-code.mcp.json": "claude-code",
    "sql/cursor-mcp.json": "cursor",
    "sql/vscode-mcp.json": "vscode",
    "docs/claude_desktop_config.json": "claude-desktop",
    "code/claude_desktop_config.json": "claude-desktop",
    "code/vscode_mcp.json": "vscode",
    "memory/claude_desktop_config.json": "claude-desktop",
    "memory/vscode_mcp.json": "vscode",
}
# The other files, and the test that covers each.
OTHER_FILES = {
    "demo.py": "tests/test_demo.py",
    "sql/sql-connections.toml": "the sql client configs below (TOOLMESH_SQL_CONFIG_FILE)",
    "sql/README.md": "test_every_example_is_covered (the table names each config file)",
    "docs/glossary.toml": "the docs client config below (TOOLMESH_DOCS_GLOSSARY)",
    "docs/search_api.py": "test_example_scripts_run",
    "docs/docker-compose.qdrant.yml": "test_the_qdrant_compose_file_parses",
    "code/lookup.py": "test_example_scripts_run",
    "memory/recall_api.py": "test_example_scripts_run",
    "mesh/README.md": "tests/agents (toolmesh up over the samples) and mesh/ask.py",
    "mesh/ask.py": "test_example_scripts_run (--help: it needs a running mesh)",
}


def test_every_example_is_covered() -> None:
    files = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.is_file()}
    files = {f for f in files if "__pycache__" not in f}
    assert files == set(CLIENT_CONFIGS) | set(OTHER_FILES), "a new example needs a test here"
    readme = (EXAMPLES / "sql" / "README.md").read_text(encoding="utf-8")
    for name in CLIENT_CONFIGS:
        if name.startswith("sql/"):
            assert f"`{name.removeprefix('sql/')}`" in readme


@dataclass
class Launch:
    """One server entry as its client runs it."""

    command: str
    args: list[str]
    env: dict[str, str]
    cwd: str


def _substitute(value: str, client: str, workspace: Path, answers: dict[str, str]) -> str:
    if client in ("vscode", "cursor"):
        value = value.replace("${workspaceFolder}", str(workspace))
    for key, answer in answers.items():
        value = value.replace(f"${{input:{key}}}", answer)
    return value


def _user_edits(value: str, home: Path) -> str:
    """The placeholders a user replaces with their own paths."""
    for placeholder, mine in (
        ("/Users/me/Documents/notes", home / "notes"),
        ("/Users/me/projects/handbook", home / "handbook"),
        ("/Users/me/Library/Application Support/toolmesh", home / "appdata"),
        ("/absolute/path/to/your/repository", home / "repo"),
    ):
        value = value.replace(placeholder, str(mine))
    return value


def _launch(name: str, workspace: Path, home: Path, cache: Path) -> Launch:
    client = CLIENT_CONFIGS[name]
    data = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    entries = data["servers"] if client == "vscode" else data["mcpServers"]
    assert len(entries) == 1
    entry = next(iter(entries.values()))
    assert entry["command"] == "toolmesh" and entry.get("type", "stdio") == "stdio"
    answers = {i["id"]: "not-the-real-password" for i in data.get("inputs", [])}
    env = {k: _user_edits(_substitute(v, client, workspace, answers), home) for k, v in entry["env"].items()}
    leftover = [v for v in env.values() if "${workspaceFolder}" in v or "${input:" in v]
    assert not leftover, f"{name}: {client} would not substitute {leftover}"
    env["XDG_CACHE_HOME"] = str(cache)
    cwd = "/" if client == "claude-desktop" else str(workspace)
    return Launch(str(TOOLMESH), list(entry["args"]), env, cwd)


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(workspace, home, cache): a project with the example files in it, the user's own folders, a cache."""
    workspace, home, cache = tmp_path / "project", tmp_path / "home", tmp_path / "cache"
    workspace.mkdir()
    shutil.copy(EXAMPLES / "sql" / "sql-connections.toml", workspace)
    (workspace / "data").mkdir()
    db = sqlite3.connect(workspace / "data" / "local.sqlite")
    db.executescript(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');"
    )
    db.close()
    (home / "notes").mkdir(parents=True)
    shutil.copy(EXAMPLES / "docs" / "glossary.toml", home / "notes")
    (home / "notes" / "respawn.md").write_text(
        "# Respawn\n\nThe respawn timer is ten seconds on ranked servers.\n", encoding="utf-8"
    )
    (home / "handbook").mkdir()
    (home / "handbook" / "refunds.md").write_text("# Refunds\n\nRefunds take five days.\n", encoding="utf-8")
    (home / "repo").mkdir()
    (home / "repo" / "shop.py").write_text("def checkout(cart):\n    return sum(cart)\n", encoding="utf-8")
    (home / "appdata").mkdir()
    return workspace, home, cache


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content or {})


async def _exercise_sql(client: Client[Any], name: str) -> None:
    tools = {t.name for t in await client.list_tools()}
    assert {"list_connections", "run_query", "describe_table"} <= tools
    listed = {
        c["name"]: c for c in _structured(await client.call_tool("list_connections", {}))["connections"]
    }
    assert "shop" in listed and listed["shop"]["available"]
    rows = _structured(
        await client.call_tool("run_query", {"sql": "SELECT count(*) FROM orders", "connection": "shop"})
    )["rows"]
    assert rows[0][0] > 0
    if "sql-connections.toml" in json.dumps(json.loads((EXAMPLES / name).read_text())):
        assert {"warehouse", "shopdb", "local"} <= set(listed)
        assert listed["local"]["available"]  # data/local.sqlite, from the config file's folder
        assert not listed["shopdb"]["available"] and "SHOPDB_PASSWORD" in listed["shopdb"]["reason"]
        failed = await client.call_tool(
            "run_query", {"sql": "SELECT 1", "connection": "shopdb"}, raise_on_error=False
        )
        assert failed.is_error and "SHOPDB_PASSWORD" in failed.content[0].text


async def _exercise_docs(client: Client[Any], name: str) -> None:
    assert "search_docs" in {t.name for t in await client.list_tools()}
    status = _structured(await client.call_tool("index_status", {"wait_seconds": 120}))
    assert status["indexing"]["state"] == "ready", status["indexing"]
    assert status["glossary_terms"] > 0
    found = _structured(
        await client.call_tool("search_docs", {"query": "rez timer"})
    )  # glossary: respawn timer
    assert found["hits"] and found["hits"][0]["citation"]["path"].endswith("respawn.md")


async def _exercise_code(client: Client[Any], name: str) -> None:
    assert "find_symbol" in {t.name for t in await client.list_tools()}
    found = await client.call_tool("find_symbol", {"query": "checkout"})
    assert not found.is_error and "checkout" in found.content[0].text


async def _exercise_memory(client: Client[Any], name: str) -> None:
    assert {"remember", "recall"} <= {t.name for t in await client.list_tools()}
    _structured(await client.call_tool("remember", {"text": "Sam is allergic to peanuts"}))
    recalled = await client.call_tool("recall", {"query": "what can Sam not eat"})
    assert "peanuts" in recalled.content[0].text


EXERCISES: dict[str, Callable[[Client[Any], str], Any]] = {
    "sql": _exercise_sql,
    "docs": _exercise_docs,
    "code": _exercise_code,
    "memory": _exercise_memory,
}
# One config in the default run (the fullest: a connections file, an unset secret, a prompted input); each
# stdio start costs several seconds (imports, the sample database, models), so the others run with -m slow.
FAST = {"sql/vscode-mcp.json"}


@pytest.mark.parametrize(
    "name",
    [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in CLIENT_CONFIGS],
)
@pytest.mark.asyncio
async def test_client_config_starts_and_serves(name: str, places: tuple[Path, Path, Path]) -> None:
    launch = _launch(name, *places)
    transport = StdioTransport(launch.command, launch.args, env=launch.env, cwd=launch.cwd, keep_alive=False)
    with anyio.fail_after(180):
        async with Client(transport) as client:
            await EXERCISES[name.split("/")[0]](client, name)


@pytest.mark.slow
def test_a_client_config_through_the_mcp_inspector_cli(places: tuple[Path, Path, Path]) -> None:
    if not INSPECTOR.exists():
        pytest.skip(
            "the MCP Inspector CLI (@modelcontextprotocol/inspector) is not installed in "
            "tests/conformance/js/node_modules and cannot be fetched offline"
        )
    launch = _launch("sql/vscode-mcp.json", *places)
    env_args = [arg for key, value in launch.env.items() for arg in ("-e", f"{key}={value}")]
    result = subprocess.run(
        [str(INSPECTOR), "--cli", *env_args, launch.command, *launch.args, "--method", "tools/call",
         "--tool-name", "run_query", "--tool-arg", "sql=SELECT count(*) FROM orders", "--tool-arg",
         "connection=shop"],
        cwd=launch.cwd, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"isError": true' not in result.stdout and "rows" in result.stdout


SCRIPTS = {
    "docs/search_api.py": lambda home: [str(home / "notes"), "respawn timer"],
    "code/lookup.py": lambda home: [str(home / "repo"), "checkout"],
    "memory/recall_api.py": lambda home: [],
    "mesh/ask.py": lambda home: ["--help"],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_scripts_run(script: str, places: tuple[Path, Path, Path]) -> None:
    _, home, cache = places
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *SCRIPTS[script](home)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


def test_the_qdrant_compose_file_parses() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    compose = yaml.safe_load((EXAMPLES / "docs" / "docker-compose.qdrant.yml").read_text(encoding="utf-8"))
    assert "qdrant" in json.dumps(compose["services"])
