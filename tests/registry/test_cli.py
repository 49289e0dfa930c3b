"""`toolmesh registry ...` commands and settings parsing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tests.registry.conftest import make_card, register, settings_for
from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings, hash_token
from toolmesh.registry.app import build_app, build_store
from toolmesh.registry.cli import app
from toolmesh.registry.settings import RegistrySettings
from toolmesh.registry.sqlstore import SqlStore
from toolmesh.registry.store import MemoryStore


def test_openapi_command_prints_the_document() -> None:
    result = CliRunner().invoke(app, ["openapi"])
    assert result.exit_code == 0
    assert json.loads(result.output)["paths"]["/api/v1/agents"]["post"]["security"] == [{"bearer": []}]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hash_token("s3cret")
    monkeypatch.setenv("TOOLMESH_REGISTRY_PUBLISHERS", json.dumps({digest: "team-a"}))
    monkeypatch.setenv("TOOLMESH_REGISTRY_TTL_SECONDS", "30")
    monkeypatch.setenv("TOOLMESH_REGISTRY_OPEN_READS", "false")
    settings = RegistrySettings()
    assert (
        settings.publishers == {digest: "team-a"} and settings.ttl_seconds == 30 and not settings.open_reads
    )
    assert settings.port == 8700 and settings.transport == "http"
    assert isinstance(build_store(settings), SqlStore)
    assert isinstance(build_store(settings.model_copy(update={"database_url": "memory://"})), MemoryStore)


@pytest.mark.parametrize(
    "overrides",
    [
        {"publishers": {"raw-token": "team-a"}},
        {"admin_tokens": ["not-a-digest"]},
        {"reader_tokens": ["A" * 64]},
        {"publishers": {hash_token("x"): ""}},
        {"transport": "stdio"},
        {"ttl_seconds": 0},
        {"table_prefix": "Bad-Prefix"},
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RegistrySettings(**overrides)  # type: ignore[arg-type]


def test_search_and_show_against_a_running_registry() -> None:
    """The CLI runs its own event loop, so the registry is served from a thread with another loop."""
    ready = threading.Event()
    stop = threading.Event()
    found: dict[str, str] = {}

    async def serve() -> None:
        try:
            await serve_until_stopped()
        finally:
            ready.set()  # never leave the test waiting on a registry that failed to start

    async def serve_until_stopped() -> None:
        app = build_app(settings_for())
        async with running(app, ServingSettings(transport="http", port=0)) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                entry = await register(client, make_card("clitest"))
            found.update(base=base, id=entry["id"])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.01)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(30) and "base" in found, "registry did not start"
        runner = CliRunner()
        result = runner.invoke(app, ["search", "--url", found["base"], "--skill", "clitest"])
        assert result.exit_code == 0, result.output
        assert result.output.split("\t")[:4] == [found["id"], "agent", "unknown", "clitest"]
        shown = runner.invoke(app, ["show", found["id"], "--url", found["base"]])
        assert shown.exit_code == 0 and json.loads(shown.output)["history"][0]["version"] == 1
        missing = runner.invoke(app, ["show", "nope", "--url", found["base"]])
        assert missing.exit_code == 1 and "no entry 'nope'" in missing.output
    finally:
        stop.set()
        thread.join(30)


@pytest.mark.slow
def test_serve_runs_the_registry_in_a_process(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TOOLMESH_REGISTRY_PROBE_INTERVAL": "0", "TOOLMESH_REGISTRY_PUBLISHERS": "{}"}
    command = [sys.executable, "-m", "toolmesh.registry", "serve", "--port", str(port)]
    command += ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "registry did not answer within 30 s"
                time.sleep(0.05)
        page = httpx.get(f"http://127.0.0.1:{port}/api/v1/entries", timeout=5)
        assert page.status_code == 200 and page.json() == {"items": []}
        refused = httpx.post(f"http://127.0.0.1:{port}/api/v1/agents", json={"card_url": "x"}, timeout=5)
        assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode in (0, -2), stderr.decode()[-2000:]
    assert (tmp_path / "r.db").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_bad_signing_keys_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="k1"):
        build_app(settings_for(signing_keys={"k1": '{"kty": "nope"}'}))
    with pytest.raises(ConfigError, match="empty"):
        build_app(settings_for(signing_keys={"k2": "  "}))
