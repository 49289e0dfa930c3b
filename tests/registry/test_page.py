"""The web page at /: server-rendered, escaped, and checked in a real headless Chromium."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import anyio
import httpx
import pytest

from tests.registry.conftest import (
    PUBLISHER_A,
    PUBLISHER_B,
    Api,
    auth,
    make_card,
    make_server_entry,
    register,
    settings_for,
)
from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app

OUT = Path(__file__).resolve().parents[2] / "out"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

EPHEMERAL = ServingSettings(transport="http", port=0)


@pytest.mark.asyncio
async def test_page_lists_entries_and_escapes_everything(api: Api) -> None:
    client, _ = api
    with anyio.fail_after(10):
        await register(
            client,
            make_card(
                "<script>alert(1)</script>",
                skills=[
                    {
                        "id": 'x"><img src=x onerror=alert(1)>',
                        "name": "evil",
                        "description": "d",
                        "tags": ["<b>"],
                    }
                ],
            ),
        )
        await client.post("/api/v1/servers", json=make_server_entry("sql"), headers=auth(PUBLISHER_A))
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        html = page.text
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "run_query" in html
        filtered = (await client.get("/", params={"q": "sql"})).text
        assert "run_query" in filtered and "alert(1)" not in filtered


@pytest.mark.asyncio
async def test_entry_detail_page(api: Api) -> None:
    client, _ = api
    with anyio.fail_after(10):
        entry = await register(client, make_card("detailed", description="First <i>words</i>"))
        await register(client, make_card("detailed", description="Second words"))
        page = await client.get(f"/ui/entries/{entry['id']}")
        assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
        html = page.text
        assert "Second words" in html and "team-a" in html and '<table id="history">' in html
        assert html.count("<tr><td>") == 2  # two versions
        assert "<i>" not in html
        index = (await client.get("/")).text
        assert f'href="/ui/entries/{entry["id"]}"' in index
        missing = await client.get("/ui/entries/no-such-entry")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFoundError"


async def _chromium(*args: str, user_dir: Path) -> str:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={user_dir}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        with anyio.fail_after(60):
            stdout, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium: apt-get install -y chromium")
@pytest.mark.asyncio
async def test_page_in_headless_chromium(tmp_path: Path) -> None:
    app = build_app(settings_for())
    with anyio.fail_after(120):
        async with running(app, EPHEMERAL) as base, httpx.AsyncClient(base_url=base) as client:
            await register(
                client,
                make_card(
                    "planner",
                    "http://127.0.0.1:9001",
                    skills=[
                        {"id": "plan", "name": "Plan", "description": "Plans", "tags": ["planning", "dag"]}
                    ],
                ),
            )
            await register(
                client,
                make_card(
                    "executor",
                    "http://127.0.0.1:9002",
                    skills=[{"id": "execute", "name": "Execute", "description": "Runs", "tags": ["tools"]}],
                    bindings=("JSONRPC", "HTTP+JSON"),
                ),
                PUBLISHER_B,
            )
            await register(
                client,
                make_card(
                    "reviewer",
                    "http://127.0.0.1:9003",
                    skills=[
                        {"id": "review", "name": "Review", "description": "Reviews", "tags": ["quality"]}
                    ],
                ),
            )
            await client.post(
                "/api/v1/servers",
                json=make_server_entry("sql", tools=["run_query", "describe_table", "explain"]),
                headers=auth(PUBLISHER_A),
            )
            await client.post(
                "/api/v1/servers",
                json={
                    "name": "code",
                    "transport": "stdio",
                    "command": ["toolmesh", "serve", "code"],
                    "tools": [{"name": "find_symbol"}, {"name": "read_file"}],
                },
                headers=auth(PUBLISHER_A),
            )
            registry = app.state.registry
            states = {
                "planner": ("healthy", "answered in 4 ms"),
                "executor": ("degraded", "slow: answered in 2.31s"),
                "sql": ("healthy", "answered in 2 ms"),
            }
            for item in (await registry.search(registry.query(include_down=True, limit=50))).items:
                if item.name in states:
                    health, detail = states[item.name]
                    await registry.store.set_health(item.id, health=health, detail=detail, failures=0, at=0.0)
            dom = await _chromium("--dump-dom", f"{base}/", user_dir=tmp_path / "dom")
            for text in (
                "planner",
                "executor",
                "reviewer",
                "plan",
                "execute",
                "review",
                "run_query",
                "find_symbol",
                "HTTP+JSON",
                "3 agents · 2 MCP servers",
                "Last heartbeat",
            ):
                assert text in dom, text
            assert dom.count('class="entry agent"') == 3 and dom.count('class="entry server"') == 2
            OUT.mkdir(exist_ok=True)
            shot = OUT / "registry-page.png"
            shot.unlink(missing_ok=True)
            await _chromium(
                f"--screenshot={shot}", "--window-size=1280,800", f"{base}/", user_dir=tmp_path / "shot"
            )
            assert shot.stat().st_size > 10_000
            planner_id = next(
                e["id"]
                for e in (await client.get("/api/v1/entries", params={"skill": "plan"})).json()["items"]
            )
            detail = await _chromium(
                "--dump-dom", f"{base}/ui/entries/{planner_id}", user_dir=tmp_path / "detail"
            )
            assert '"protocolBinding": "JSONRPC"' in detail and "planner" in detail and "healthy" in detail
            detail_shot = OUT / "registry-entry.png"
            await _chromium(
                f"--screenshot={detail_shot}",
                "--window-size=1280,900",
                f"{base}/ui/entries/{planner_id}",
                user_dir=tmp_path / "detail-shot",
            )
            assert detail_shot.stat().st_size > 10_000
