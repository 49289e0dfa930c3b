"""`toolmesh up` on a config: only the listed servers and agents start, the docs roots are indexed, the
join token is stable, and the printed join command carries what a new executor needs."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import anyio
import pytest
from fastmcp import Client

from toolmesh.agents.config import load_config
from toolmesh.agents.stack import TOKEN_FILE, join_command, launch_stack, mesh_token
from toolmesh.protocols.registry_client import RegistryClient

CONFIG = """
workdir = ".state"

[registry]
port = 0

[servers.docs]
roots = ["notes"]
embedder = "none"

[servers.sql]

[agents]
peer_token = "a-peer-token-for-the-mesh"
approvals = { "*" = "deny" }

[agents.executor]
port = 0
"""


@pytest.mark.asyncio
async def test_up_starts_the_listed_servers_and_agents_only(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "kiwi.md").write_text("# Kiwi\n\nThe kiwi policy: ship on Tuesdays.\n", "utf-8")
    (tmp_path / "toolmesh.toml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "toolmesh.toml")
    token, _ = mesh_token(config)
    with anyio.fail_after(120):
        async with launch_stack(config, token=token) as mesh:
            assert set(mesh.servers) == {"docs", "sql"}
            assert set(mesh.agents) == {"executor"}
            async with RegistryClient(mesh.registry_url, token=token) as registry:
                servers = await registry.search(kind="server")
                agents = await registry.search(kind="agent")
            assert sorted(e.name for e in servers.items) == ["docs", "sql"]
            assert [e.name for e in agents.items] == ["executor"]
            assert mesh.registry_token == token  # members register with the stable token
            async with Client(mesh.servers["docs"]) as docs:  # the root was indexed at start-up
                hits = await docs.call_tool("search_docs", {"query": "kiwi policy"})
            assert "kiwi.md" in str(hits.structured_content)
            executor = mesh.agents["executor"].agent
            assert executor is not None
    assert (tmp_path / ".state" / "registry.db").is_file()
    assert (tmp_path / ".state" / "agents" / "executor" / "tasks.db").is_file()  # the store in the workdir


def test_the_join_token_is_generated_once_and_kept(tmp_path: Path) -> None:
    (tmp_path / "toolmesh.toml").write_text("[registry]\nport = 0\n", encoding="utf-8")
    config = load_config(tmp_path / "toolmesh.toml")
    first, where = mesh_token(config)
    second, _ = mesh_token(config)
    path = tmp_path / ".toolmesh" / TOKEN_FILE
    assert first == second == path.read_text(encoding="utf-8").strip() and len(first) >= 16
    assert str(path) in where
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / ".toolmesh" / ".gitignore").read_text(encoding="utf-8") == "*\n"


def test_a_token_in_the_file_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_JOIN_TOKEN", "x" * 24)
    (tmp_path / "toolmesh.toml").write_text('[registry]\ntoken = "${TEST_JOIN_TOKEN}"\n', encoding="utf-8")
    token, where = mesh_token(load_config(tmp_path / "toolmesh.toml"))
    assert token == "x" * 24 and "registry.token" in where
    assert not (tmp_path / ".toolmesh" / TOKEN_FILE).exists()


def test_the_join_command_carries_the_registry_the_token_and_the_shared_settings(tmp_path: Path) -> None:
    from toolmesh.agents.mesh import MeshHandle

    (tmp_path / "toolmesh.toml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "toolmesh.toml")
    mesh = MeshHandle(registry_url="http://127.0.0.1:8700", registry_token="tok en'x")
    words = shlex.split(join_command(config, mesh))
    assert words[-4:] == ["toolmesh", "agents", "serve", "executor"]
    env = dict(w.split("=", 1) for w in words[:-4])
    own_id = env.pop("TOOLMESH_AGENTS_AGENT_ID")
    assert own_id.startswith("executor-")  # not the mesh's executor's id (and so not its task store)
    assert env == {
        "TOOLMESH_AGENTS_REGISTRY_URL": "http://127.0.0.1:8700",
        "TOOLMESH_AGENTS_REGISTRY_TOKEN": "tok en'x",
        "TOOLMESH_AGENTS_PEER_TOKEN": "a-peer-token-for-the-mesh",
        "TOOLMESH_AGENTS_APPROVALS": '{"*": "deny"}',
    }  # not the executor's own port or task store: the new one picks its own
