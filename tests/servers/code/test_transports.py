"""The code server through real MCP clients over Streamable HTTP and stdio, plus the CLI and --watch."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from typer.testing import CliRunner

from toolmesh.protocols.plugins import load_server
from toolmesh.protocols.serving import mcp_http_app, running
from toolmesh.servers.code.cli import app as cli_app
from toolmesh.servers.code.index import RefreshStats
from toolmesh.servers.code.server import build_server
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings
from toolmesh.servers.code.watch import watch_and_refresh


async def _exercise(client: Client[Any]) -> None:
    found = await client.call_tool("find_symbol", {"query": "Greeter.greet"})
    assert found.structured_content is not None
    assert found.structured_content["hits"][0]["path"] == "jvm/Greeter.java"
    definition = await client.call_tool("get_definition", {"symbol": "deliver"})
    assert definition.structured_content is not None
    assert "function deliver(string $to, string $body): bool" in definition.structured_content["source"]
    search = await client.call_tool("search_text", {"pattern": "TAX_RATE"})
    assert search.structured_content is not None
    assert [m["path"] for m in search.structured_content["matches"]] == ["scripts/billing.rb"] * 2
    refused = await client.call_tool("read_file", {"path": "../../etc/passwd"}, raise_on_error=False)
    assert refused.is_error
    # Every other tool answers over this transport too.
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("find_references", {"symbol": "greet"}, "references"),
        ("callers", {"symbol": "totalQuantity"}, "callers"),
        ("callees", {"symbol": "Mailer.send"}, "callees"),
        ("outline", {"path": "native/lib.rs"}, "symbols"),
        ("repo_map", {"max_tokens": 400}, "map"),
        ("read_file", {"path": "web/api.ts", "end_line": 3}, "text"),
        (
            "locate_traceback",
            {"text": 'Traceback:\n  File "pkg/models.py", line 48, in validate_amount\n'},
            "frames",
        ),
        ("index_status", {}, "files"),
        ("reindex", {}, "files"),
    ]
    for tool, args, key in calls:
        result = await client.call_tool(tool, args)
        assert result.structured_content is not None, tool
        assert result.structured_content[key], tool


@pytest.mark.asyncio
async def test_streamable_http(repo: Path, tmp_path: Path) -> None:
    settings = CodeSettings(root=repo, index_path=tmp_path / "i.sqlite", transport="http", port=0)
    app = mcp_http_app(build_server(settings), settings)
    with anyio.fail_after(60):
        async with running(app, settings) as url, Client(url + "/mcp") as client:
            await _exercise(client)


@pytest.mark.asyncio
@pytest.mark.slow  # a fresh interpreter imports every installed server (entry points): seconds of start-up
async def test_stdio(repo: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOOLMESH_CODE_ROOT": str(repo),
        "TOOLMESH_CODE_INDEX_PATH": str(tmp_path / "stdio.sqlite"),
    }
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "toolmesh.servers.code", "--transport", "stdio"],
        env=env,
        keep_alive=False,
    )
    with anyio.fail_after(60):
        async with Client(transport) as client:
            await _exercise(client)


def test_registered_as_entry_point(repo: Path, tmp_path: Path) -> None:
    spec = load_server("code")
    assert spec.settings_type is CodeSettings
    server = spec.build_server(CodeSettings(root=repo, index_path=tmp_path / "i.sqlite"))
    assert server.name == "code"
    assert not (tmp_path / "i.sqlite").exists()  # building the server does no work


def test_cli_index_and_status(repo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "cli.sqlite"
    first = runner.invoke(cli_app, ["index", str(repo), "--index-path", str(db)])
    assert first.exit_code == 0, first.output
    assert "15 files: 15 added" in first.output
    again = runner.invoke(cli_app, ["index", str(repo), "--index-path", str(db)])
    assert "0 added, 0 updated, 0 removed, 15 unchanged" in again.output
    status = runner.invoke(cli_app, ["status", str(repo), "--index-path", str(db)])
    assert status.exit_code == 0
    assert json.loads(status.stdout)["files"] == 15
    bad = runner.invoke(cli_app, ["index", str(tmp_path / "missing"), "--index-path", str(db)])
    assert bad.exit_code == 2


def test_watch_reindexes_changed_files(service: CodeService, repo: Path) -> None:
    stop = threading.Event()
    seen: list[RefreshStats] = []
    changed = threading.Event()

    def on_refresh(stats: RefreshStats) -> None:
        seen.append(stats)
        if stats.added:
            changed.set()

    thread = threading.Thread(
        target=watch_and_refresh,
        args=(service,),
        kwargs={"stop": stop, "on_refresh": on_refresh, "debounce_ms": 50},
    )
    thread.start()
    try:
        # The watcher may start after the write; keep writing (new names) until a refresh picks one up.
        for attempt in range(50):
            (repo / "pkg" / f"watched_{attempt}.py").write_text(f"def watched_{attempt}():\n    pass\n")
            if changed.wait(0.5):
                break
        assert changed.is_set(), seen
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.asyncio
async def test_server_watch_setting_keeps_the_index_fresh(repo: Path, tmp_path: Path) -> None:
    from toolmesh.servers.code import lookup

    settings = CodeSettings(root=repo, index_path=tmp_path / "w.sqlite", refresh_interval=3600, watch=True)
    service = CodeService(settings)
    try:
        await service.ensure_fresh()  # first use: index, and start watching
        with anyio.fail_after(30):
            attempt = 0
            while True:  # the watcher may subscribe after the first write: keep adding new files
                (repo / f"seen_{attempt}.py").write_text(f"def seen_{attempt}():\n    pass\n")
                found = await anyio.to_thread.run_sync(lambda: lookup.find_symbol(service.index, "seen_"))
                if found.hits:
                    break
                attempt += 1
                await anyio.sleep(0.3)
    finally:
        service.close()


@pytest.mark.asyncio
async def test_mounted_in_the_gateway(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolmesh.protocols.gateway import build_gateway

    monkeypatch.setenv("TOOLMESH_CODE_ROOT", str(repo))
    monkeypatch.setenv("TOOLMESH_CODE_INDEX_PATH", str(tmp_path / "gw.sqlite"))
    gateway = build_gateway({"code": load_server("code")})
    async with Client(gateway) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert {"code_find_symbol", "code_search_text", "code_locate_traceback"} <= names
        found = await client.call_tool("code_find_symbol", {"query": "vec_new"})
        assert found.structured_content is not None
        assert found.structured_content["hits"][0]["path"] == "native/vec.c"
